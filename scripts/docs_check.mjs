// The docs page in headless Chromium: it renders the operations and the bearer auth box, its
// title is the service's, no request leaves the machine and the browser logs no error.
// Run by scripts/docs-check:  node docs_check.mjs URL SCREENSHOT
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage();
const problems = [];
const origin = new URL(url).origin;
page.on("request", (request) => {
  const target = request.url();
  if (!target.startsWith(origin) && !target.startsWith("data:") && !target.startsWith("blob:")) {
    problems.push(`a request left the machine: ${target}`);
  }
});
page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
page.on("response", (response) => {
  if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
});
page.on("console", (message) => {
  if (message.type() === "error") problems.push(`browser console: ${message.text()}`);
});
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

await page.goto(`${url}/docs`, { waitUntil: "networkidle" });
const title = await page.title();
if (title !== "syncgate API") problems.push(`title is "${title}"`);
// The operations list (the first tag is open) and the bearer auth box.
await page.getByText("Register a device").first().waitFor({ timeout: 20000 });
await page.getByText("Bearer Token").first().waitFor({ timeout: 20000 });
await page.screenshot({ path: screenshot, fullPage: false });
await browser.close();
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("docs page: ok");
