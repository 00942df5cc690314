// Compiled with the example (`tsc -p example`, strict): the client is typed by the generated
// schema. Each `@ts-expect-error` line must be an error, or the compile fails.
import type { SyncClient } from "@syncgate/client";
import type { Tables } from "./schema.js";

export async function typed(db: SyncClient<Tables>): Promise<void> {
  const sale = { id: "s", product_id: "p", quantity: 1, unit_price: "2.50", sold_at: "2026-12-05T10:00:00Z", cashier: "till-1" };
  await db.table("sales").insert(sale);
  await db.table("products").update({ id: "p", stock: 3 });
  const row = db.table("sales").get("s").run();
  if (row) {
    const total: string | null = row.line_total;
    // @ts-expect-error line_total may be null
    const sure: string = row.line_total;
    void total, sure;
  }
  const cheap = db.table("products").where((p) => Number(p.price) < 2).orderBy("price").run();
  void cheap;
  // @ts-expect-error quantity is required
  await db.table("sales").insert({ id: "s2", product_id: "p", unit_price: "1", sold_at: "x", cashier: "c" });
  // @ts-expect-error category is an enum
  await db.table("products").update({ id: "p", category: "toys" });
  // @ts-expect-error a patch names its row
  await db.table("products").update({ stock: 3 });
  // @ts-expect-error no such table
  db.table("invoices");
  // @ts-expect-error no such column to order by
  db.table("products").all().orderBy("colour");
}
