// The example till: lists the branch's products live, sells one (also offline), and shows the
// write queue and the sync status. Compiled by `tsc -p example` against the types that
// `syncgate client-types` generated for the shipped schema (./schema.ts).
import { createClient, IndexedDBPersistence } from "@syncgate/client";
import type { SyncClient, SyncStatus } from "@syncgate/client";
import { schema } from "./schema.js";
import type { ProductsRow, SalesRow, Tables } from "./schema.js";

const $ = <E extends HTMLElement>(selector: string) => document.querySelector<E>(selector)!;

function cell(text: unknown): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function claims(token: string): { sub?: string; role?: string; branch?: number } {
  try {
    return JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

async function start(token: string): Promise<void> {
  const who = claims(token);
  $("#who").textContent = `${who.sub ?? "?"} · ${who.role ?? "?"} · branch ${who.branch ?? "all"}`;
  $("#app").hidden = false;
  const db: SyncClient<Tables> = await createClient<Tables>({
    url: `${location.origin}/api/v1`,
    schema,
    token: () => token,
    // One store per user: another user's rows are never read from it.
    persistence: new IndexedDBPersistence(`syncgate-example:${who.sub}`),
    // Registered once, then acks with its queue length: GET /sync/status and /status show it.
    device: { name: "Example till", platform: "web", appVersion: "0.1.0" },
  });
  const products = db.table("products");
  const sales = db.table("sales");
  let names = new Map<string, string>();

  db.subscribe(products.all().orderBy("name"), (rows: ProductsRow[]) => {
    names = new Map(rows.map((p) => [p.id, p.name]));
    $("#products").replaceChildren(
      ...rows.map((p) => {
        const tr = document.createElement("tr");
        const sell = document.createElement("button");
        sell.textContent = "Sell 1";
        sell.onclick = () =>
          void sales.insert({
            id: crypto.randomUUID(),
            product_id: p.id,
            quantity: 1,
            unit_price: p.price,
            sold_at: new Date().toISOString(),
            cashier: who.sub ?? "till",
          });
        const action = document.createElement("td");
        action.append(sell);
        tr.append(cell(p.sku), cell(p.name), cell(p.price), cell(p.stock), cell(p.branch_id), action);
        return tr;
      }),
    );
  });

  db.subscribe(sales.all().orderBy("sold_at", "desc").limit(20), (rows: SalesRow[]) => {
    $("#sales").replaceChildren(
      ...rows.map((s) => {
        const tr = document.createElement("tr");
        tr.append(cell(new Date(s.sold_at).toLocaleTimeString()), cell(names.get(s.product_id) ?? s.product_id), cell(s.quantity), cell(s.line_total ?? "…"));
        return tr;
      }),
    );
  });

  db.status.subscribe((status: SyncStatus) => {
    const online = status.online === null ? "connecting" : status.online ? "online" : "offline";
    $("#status").innerHTML = "";
    const parts: [string, string][] = [
      [online, status.online === false ? "offline" : "online"],
      [`live: ${status.live}`, ""],
      [`pending: ${status.pending}`, ""],
      [`last sync: ${status.lastSyncAt ? new Date(status.lastSyncAt).toLocaleTimeString() : "never"}`, ""],
      [status.lastError ? `last error: ${status.lastError.code}: ${status.lastError.message}` : "", "error"],
    ];
    for (const [text, css] of parts) {
      const span = document.createElement("span");
      span.textContent = text;
      span.className = css;
      $("#status").append(span);
    }
    $("#queue").replaceChildren(
      ...db.pendingWrites().map((w) => {
        const tr = document.createElement("tr");
        tr.append(cell(w.opId), cell(w.table), cell(w.action), cell(new Date(w.queuedAt).toLocaleTimeString()));
        return tr;
      }),
    );
  });

  const problem = (text: string) => {
    const li = document.createElement("li");
    li.textContent = text;
    $("#problems").prepend(li);
  };
  db.on("writeError", (e) => problem(`${e.write.action} ${e.write.table} ${e.write.key}: ${e.error.code}: ${e.error.message}`));
  db.on("conflict", (e) => problem(`${e.write.action} ${e.write.table} ${e.write.key}: conflict, ${e.conflict.resolution}`));

  $<HTMLFormElement>("#add-product").onsubmit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    void products.insert({
      id: crypto.randomUUID(),
      sku: String(form.get("sku")),
      name: String(form.get("name")),
      price: String(form.get("price")),
      stock: Number(form.get("stock") || 0),
      updated_at: new Date().toISOString(),
      ...(who.branch !== undefined ? { branch_id: who.branch } : {}),
    });
  };
}

const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
const token = fromHash ?? sessionStorage.getItem("syncgate-example-token");
if (token) {
  sessionStorage.setItem("syncgate-example-token", token);
  void start(token);
} else {
  const login = $<HTMLFormElement>("#login");
  login.hidden = false;
  login.onsubmit = (event) => {
    event.preventDefault();
    location.hash = `token=${new FormData(login).get("token")}`;
    location.reload();
  };
}
