// The ops status page in headless Chromium: with the token from the address's fragment it lists
// the device, shows at least one pending outbox entry and refreshes itself; its title is the
// page's, the token leaves the address bar, no request leaves the machine, no request fails or
// is answered >= 400 (but a 404 for the upstream status, a hub's answer) and the browser logs
// no error.
// Run by a shell script:  node status_check.mjs URL TOKEN DEVICE_ID SCREENSHOT
import { chromium } from "playwright-core";

const [rawUrl, token, deviceId, screenshot] = process.argv.slice(2);
if (!rawUrl || !token || !deviceId || !screenshot) {
  console.error("usage: node status_check.mjs URL TOKEN DEVICE_ID SCREENSHOT");
  process.exit(2);
}
const url = rawUrl.replace(/\/+$/, "");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const problems = [];
const origin = new URL(url).origin;
// A hub may answer 404 for the upstream status: the page shows "hub (no upstream)" then.
const upstreamStatus = (target) => {
  try { return new URL(target).pathname.endsWith("/sync/upstream/status"); } catch { return false; }
};
page.on("request", (request) => {
  const target = request.url();
  if (!target.startsWith(origin) && !target.startsWith("data:") && !target.startsWith("blob:")) {
    problems.push(`a request left the machine: ${target}`);
  }
});
page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
page.on("response", (response) => {
  if (response.status() === 404 && upstreamStatus(response.url())) return;
  if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
});
page.on("console", (message) => {
  if (message.type() !== "error") return;
  // Chromium also logs that tolerated 404 as "Failed to load resource: … status of 404".
  if (/status of 404\b/.test(message.text()) && upstreamStatus(message.location()?.url ?? "")) return;
  problems.push(`browser console: ${message.text()}`);
});
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

// Waits for a condition in the page; on timeout records a problem (with what the page shows)
// instead of throwing, so that every problem is reported and a screenshot is still taken.
async function expect(what, predicate, arg, shownSelectors) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: 20000 });
  } catch {
    const seen = await page.evaluate((selectors) => selectors
      .map((s) => document.querySelector(s)?.innerText.replace(/\s+/g, " ").trim())
      .filter(Boolean).join(" | ") || "(nothing)", shownSelectors)
      .catch((error) => `(could not read the page: ${error.message})`);
    problems.push(`${what}; the page shows: ${seen}`);
  }
}

await page.goto(`${url}/status#token=${encodeURIComponent(token)}`, { waitUntil: "load" });
const title = await page.title();
if (title !== "syncgate status") problems.push(`title is "${title}"`);
// The token is taken from the fragment, which is then removed from the address bar.
if (new URL(page.url()).hash !== "") problems.push(`the token stays in the address: ${page.url()}`);

await expect(`the devices table does not list ${deviceId}`,
  (id) => [...document.querySelectorAll("#devices tbody tr[data-device-id]")]
    .some((row) => row.getAttribute("data-device-id") === id),
  deviceId,
  ["#devices-error", "#devices", "#token-message"]);
await expect("the outbox shows no pending count >= 1",
  () => Number(document.querySelector('#outbox-counts [data-status="pending"]')?.getAttribute("data-count") || 0) >= 1,
  null,
  ["#outbox-error", "#outbox-counts", "#token-message"]);
await expect("the schema generation is not shown",
  () => /^\d+$/.test(document.querySelector("#schema-generation")?.textContent.trim() ?? ""),
  null,
  ["#health-error", "#schema-section"]);
// One more round of the 5-second refresh, so that the refresh path runs (and logs no error).
await expect("the page does not refresh itself",
  () => Number(document.querySelector("#updated")?.getAttribute("data-refreshes") || 0) >= 2
    && /^updated \d\d:\d\d:\d\d$/.test(document.querySelector("#updated").textContent.trim()),
  null,
  ["#updated"]);
// No section reports an error (a field or shape the page does not understand, a refusal).
const shownErrors = await page.evaluate(() =>
  [...document.querySelectorAll(".section-error, #token-message")]
    .filter((el) => !el.hidden && el.textContent.trim() !== "")
    .map((el) => `#${el.id}: ${el.textContent.trim()}`));
for (const shown of shownErrors) problems.push(`the page shows an error: ${shown}`);

await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("status page: ok");
