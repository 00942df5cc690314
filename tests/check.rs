//! `syncgate check` against one broken schema per kind of mistake: each is reported with its
//! file, table and column and, where likely, a suggestion; exit code 1. A good schema exits 0
//! with a one-line summary.

mod common;

use common::{Backend, Sandbox, binary};
use std::process::Command;

const ROLES: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"
"#;

/// A valid table; cases replace parts of it.
const ITEMS: &str = r#"
[tables.items]
branch_column = "branch_id"
permissions = { ADMIN = "crud", CLERK = "r" }
[tables.items.columns]
id = { type = "uuid" }
branch_id = { type = "integer" }
name = { type = "text", max_length = 50 }
price = { type = "decimal", min = 0 }
"#;

fn run_check(sandbox: &Sandbox) -> (i32, String) {
    let config = sandbox.write_config("");
    let output = Command::new(binary())
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .expect("run syncgate check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

async fn sandbox_with(files: &[(&str, &str)]) -> Sandbox {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    for (name, text) in files {
        sandbox.write_schema(name, text);
    }
    sandbox
}

#[tokio::test]
async fn a_good_schema_passes_with_a_summary() {
    let sandbox = sandbox_with(&[("shop.toml", &format!("{ROLES}{ITEMS}"))]).await;
    let (code, output) = run_check(&sandbox);
    assert_eq!(code, 0, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.starts_with("ok: ") && output.contains("1 schema file, 2 roles, 1 table"),
        "{output}"
    );
}

#[tokio::test]
async fn the_shipped_example_passes() {
    let output = Command::new(binary())
        .args(["check", "--offline", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("2 tables"), "{text}");
}

/// (what is wrong, files, every text the report must contain)
type Case = (&'static str, Vec<(&'static str, String)>, Vec<&'static str>);

fn cases() -> Vec<Case> {
    let items = |from: &str, to: &str| {
        assert!(ITEMS.contains(from), "case template: {from}");
        format!("{ROLES}{}", ITEMS.replace(from, to))
    };
    vec![
        (
            "TOML syntax",
            vec![("shop.toml", format!("{ROLES}[tables.items\n"))],
            vec!["shop.toml:6:14: not valid TOML"],
        ),
        (
            "JSON syntax",
            vec![("shop.json", "{\"tables\": {".into())],
            vec!["shop.json:1:12: not valid JSON"],
        ),
        (
            "unknown top-level key",
            vec![("shop.toml", format!("{ROLES}{ITEMS}[table.extra]\nx = 1\n"))],
            vec!["unknown top-level key `table`", "did you mean `tables`?"],
        ),
        (
            "unknown column setting",
            vec![("shop.toml", items("max_length = 50", "max_lenght = 50"))],
            vec![
                "table `items`, column `name`",
                "unknown field `max_lenght`",
                "did you mean `max_length`?",
            ],
        ),
        (
            "unknown column type",
            vec![(
                "shop.toml",
                items("type = \"integer\"", "type = \"intger\""),
            )],
            vec![
                "table `items`, column `branch_id`",
                "unknown variant `intger`",
                "did you mean `integer`?",
            ],
        ),
        (
            "unknown table setting",
            vec![("shop.toml", items("branch_column =", "branch_colum ="))],
            vec![
                "table `items`",
                "unknown field `branch_colum`",
                "did you mean `branch_column`?",
            ],
        ),
        (
            "unknown scope",
            vec![(
                "shop.toml",
                format!("{}{ITEMS}", ROLES.replace("\"branch\"", "\"branc\"")),
            )],
            vec![
                "role `CLERK`",
                "unknown variant `branc`",
                "did you mean `branch`?",
            ],
        ),
        (
            "unknown conflict strategy",
            vec![(
                "shop.toml",
                items(
                    "[tables.items.columns]",
                    "conflict = \"server_win\"\n[tables.items.columns]",
                ),
            )],
            vec![
                "table `items`",
                "unknown variant `server_win`",
                "did you mean `server_wins`?",
            ],
        ),
        (
            "primary key not a column",
            vec![(
                "shop.toml",
                items(
                    "[tables.items]\n",
                    "[tables.items]\nprimary_key = \"uid\"\n",
                ),
            )],
            vec![
                "table `items`",
                "primary key `uid` is not a column",
                "did you mean `id`?",
            ],
        ),
        (
            "primary key of a type that cannot identify rows",
            vec![(
                "shop.toml",
                items("id = { type = \"uuid\" }", "id = { type = \"real\" }"),
            )],
            vec![
                "table `items`, column `id`",
                "primary key must be text, integer or uuid",
            ],
        ),
        (
            "nullable primary key",
            vec![(
                "shop.toml",
                items(
                    "id = { type = \"uuid\" }",
                    "id = { type = \"uuid\", nullable = true }",
                ),
            )],
            vec!["column `id`", "primary key cannot be nullable"],
        ),
        (
            "branch column not a column",
            vec![(
                "shop.toml",
                items(
                    "branch_column = \"branch_id\"",
                    "branch_column = \"branchid\"",
                ),
            )],
            vec![
                "`branch_column` names `branchid`, which is not a column",
                "did you mean `branch_id`?",
            ],
        ),
        (
            "owner column not a column",
            vec![(
                "shop.toml",
                items(
                    "[tables.items]\n",
                    "[tables.items]\nowner_column = \"owner\"\n",
                ),
            )],
            vec!["`owner_column` names `owner`, which is not a column"],
        ),
        (
            "permission for an undeclared role",
            vec![("shop.toml", items("ADMIN = \"crud\"", "ADMN = \"crud\""))],
            vec![
                "table `items`",
                "role `ADMN`, which is not declared",
                "did you mean `ADMIN`?",
            ],
        ),
        (
            "permission letters",
            vec![("shop.toml", items("CLERK = \"r\"", "CLERK = \"rw\""))],
            vec![
                "permissions of role `CLERK`",
                "`w` in \"rw\" is not an operation",
            ],
        ),
        (
            "scoped role on a table without its scope column",
            vec![("shop.toml", items("branch_column = \"branch_id\"\n", ""))],
            vec![
                "role `CLERK` is scoped by branch but the table has no `branch_column`",
                "shared = true",
            ],
        ),
        (
            "scope rule column missing",
            vec![(
                "shop.toml",
                format!(
                    "{}{ITEMS}",
                    ROLES.replace(
                        "scope = \"branch\"",
                        "scope = { column = \"region\", claim = \"region\" }"
                    )
                ),
            )],
            vec!["role `CLERK` is scoped by claim rule but the table has no column `region`"],
        ),
        (
            "table declared twice",
            vec![
                ("a.toml", format!("{ROLES}{ITEMS}")),
                ("b.toml", ITEMS.into()),
            ],
            vec![
                "b.toml:2:9: table `items`: declared twice",
                "already declared in",
                "a.toml",
            ],
        ),
        (
            "role declared twice",
            vec![
                ("a.toml", format!("{ROLES}{ITEMS}")),
                ("b.toml", "[roles.ADMIN]\nscope = \"all\"\n".into()),
            ],
            vec!["b.toml:1:8: role `ADMIN`: declared twice"],
        ),
        (
            "min above max",
            vec![("shop.toml", items("min = 0", "min = 10, max = 1"))],
            vec!["column `price`", "`min` (10) is greater than `max` (1)"],
        ),
        (
            "length bound on a number",
            vec![(
                "shop.toml",
                items(
                    "branch_id = { type = \"integer\" }",
                    "branch_id = { type = \"integer\", max_length = 3 }",
                ),
            )],
            vec![
                "column `branch_id`",
                "`max_length` apply to text columns, not integer",
            ],
        ),
        (
            "numeric bound on text",
            vec![("shop.toml", items("max_length = 50", "min = 1"))],
            vec![
                "column `name`",
                "`min` and `max` apply to integer, real and decimal columns, not text",
            ],
        ),
        (
            "enum without values",
            vec![(
                "shop.toml",
                items(
                    "name = { type = \"text\", max_length = 50 }",
                    "name = { type = \"enum\" }",
                ),
            )],
            vec!["column `name`", "an enum column needs its `values`"],
        ),
        (
            "values on a non-enum column",
            vec![("shop.toml", items("max_length = 50", "values = [\"a\"]"))],
            vec![
                "column `name`",
                "`values` applies to enum columns, not text",
            ],
        ),
        (
            "default of the wrong type",
            vec![("shop.toml", items("min = 0", "min = 0, default = true"))],
            vec!["column `price`", "the default true does not fit the column"],
        ),
        (
            "default outside the enum",
            vec![(
                "shop.toml",
                items(
                    "name = { type = \"text\", max_length = 50 }",
                    "name = { type = \"enum\", values = [\"a\", \"b\"], default = \"c\" }",
                ),
            )],
            vec!["column `name`", "\"c\" is not one of \"a\", \"b\""],
        ),
        (
            "table name with capitals",
            vec![(
                "shop.toml",
                format!("{ROLES}{}", ITEMS.replace("tables.items", "tables.Items")),
            )],
            vec!["table `Items`", "invalid table name"],
        ),
        (
            "column name with capitals",
            vec![("shop.toml", items("name = {", "Name = {"))],
            vec!["column `Name`", "invalid column name"],
        ),
        (
            "reserved table name",
            vec![(
                "shop.toml",
                format!(
                    "{ROLES}{}",
                    ITEMS.replace("tables.items", "tables.syncgate_items")
                ),
            )],
            vec!["table `syncgate_items`", "reserved for syncgate"],
        ),
        (
            "last_write_wins without a timestamp column",
            vec![(
                "shop.toml",
                items(
                    "[tables.items.columns]",
                    "conflict = \"last_write_wins\"\n[tables.items.columns]",
                ),
            )],
            vec!["table `items`", "needs a timestamp column `updated_at`"],
        ),
        (
            "updated_at detection on a non-timestamp column",
            vec![(
                "shop.toml",
                items(
                    "[tables.items.columns]",
                    "conflict_detection = \"updated_at\"\nupdated_at_column = \"name\"\n[tables.items.columns]",
                ),
            )],
            vec!["column `name`", "needs a timestamp column, not text"],
        ),
        (
            "hook conflict strategy without an on_conflict hook",
            vec![(
                "shop.toml",
                items(
                    "[tables.items.columns]",
                    "conflict = \"hook\"\n[tables.items.columns]",
                ),
            )],
            vec![
                "table `items`",
                "shop.toml:10:1: table `items`: `conflict` is `hook`, which needs a hook script that defines on_conflict",
            ],
        ),
        (
            "hook without a script",
            vec![(
                "shop.toml",
                items(
                    "[tables.items.columns]",
                    "hooks = [\"stock_guard\"]\n[tables.items.columns]",
                ),
            )],
            vec![
                "table `items`",
                "hook `stock_guard` has no script",
                "stock_guard.rhai",
            ],
        ),
        (
            "table without columns",
            vec![(
                "shop.toml",
                format!("{ROLES}[tables.items]\nprimary_key = \"id\"\n"),
            )],
            vec!["table `items`", "missing `columns`"],
        ),
        (
            "no tables at all",
            vec![("shop.toml", ROLES.into())],
            vec!["the schema declares no tables"],
        ),
    ]
}

#[tokio::test]
async fn every_kind_of_mistake_is_reported_with_its_place() {
    let mut failures = Vec::new();
    for (what, files, expected) in cases() {
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let sandbox = sandbox_with(&files).await;
        let (code, output) = run_check(&sandbox);
        if code != 1 {
            failures.push(format!("{what}: exit code {code}, expected 1\n{output}"));
        }
        for text in expected {
            if !output.contains(text) {
                failures.push(format!("{what}: missing `{text}` in\n{output}"));
            }
        }
        if output.contains("panicked") {
            failures.push(format!("{what}: panic\n{output}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The line and column each error points at: the key or value at fault, else its entry.
#[tokio::test]
async fn every_error_names_the_line_and_column_to_edit() {
    let items = |from: &str, to: &str| format!("{ROLES}{}", ITEMS.replace(from, to));
    let json_table = r#"{
  "tables": {
    "items": {
      "permissions": {"ADMIN": "crud"},
      "columns": {
        "id": {"type": "uuid"},
        "name": {"type": "txt"}
      }
    }
  }
}"#;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "shop.toml",
            items("max_length = 50", "max_lenght = 50"),
            "shop.toml:13:25: table `items`, column `name`: unknown field `max_lenght`",
        ),
        (
            "shop.toml",
            items("type = \"integer\"", "type = \"intger\""),
            "shop.toml:12:22: table `items`, column `branch_id`",
        ),
        (
            "shop.toml",
            items("branch_column =", "branch_colum ="),
            "shop.toml:8:1: table `items`: unknown field `branch_colum`",
        ),
        (
            "shop.toml",
            format!("{}{ITEMS}", ROLES.replace("\"branch\"", "\"branc\"")),
            "shop.toml:5:9: role `CLERK`",
        ),
        (
            "shop.toml",
            items("ADMIN = \"crud\"", "ADMN = \"crud\""),
            "shop.toml:9:1: table `items`: `permissions` names role `ADMN`",
        ),
        (
            "shop.toml",
            items("min = 0", "min = 5, max = 1"),
            "shop.toml:14:29: table `items`, column `price`",
        ),
        (
            "shop.json",
            json_table.to_string(),
            "shop.json:7:26: table `items`, column `name`: unknown variant `txt`",
        ),
    ];
    let mut failures = Vec::new();
    for (file, text, expected) in cases {
        let sandbox = sandbox_with(&[(file, &text)]).await;
        let (code, output) = run_check(&sandbox);
        if code != 1 || !output.contains(expected) {
            failures.push(format!("expected `{expected}` in\n{output}"));
        }
    }
    // A config key, too.
    let sandbox = sandbox_with(&[("shop.toml", &format!("{ROLES}{ITEMS}"))]).await;
    let config = sandbox.write_config("[sync]\nmax_bach = 3\n");
    let output = Command::new(binary())
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&output.stdout).to_string()
        + String::from_utf8_lossy(&output.stderr).as_ref();
    if !output.contains("config.toml:12:1: key `sync.max_bach`") {
        failures.push(format!("config: no line in\n{output}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn every_error_is_listed_at_once() {
    let text = format!(
        "{ROLES}{}",
        ITEMS
            .replace("ADMIN = \"crud\"", "ADMN = \"crud\"")
            .replace("max_length = 50", "max_lenght = 50")
            .replace("min = 0", "min = 5, max = 1")
    );
    let sandbox = sandbox_with(&[("shop.toml", &text), ("more.toml", "[tables.x\n")]).await;
    let (code, output) = run_check(&sandbox);
    assert_eq!(code, 1, "{output}");
    for text in [
        "did you mean `ADMIN`?",
        "did you mean `max_length`?",
        "`min` (5)",
        "more.toml",
        "4 errors found",
    ] {
        assert!(output.contains(text), "missing `{text}` in\n{output}");
    }
}

#[tokio::test]
async fn a_missing_schema_directory_is_explained() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    std::fs::remove_dir(sandbox.schemas()).unwrap();
    let (code, output) = run_check(&sandbox);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("cannot read the schema directory"),
        "{output}"
    );
    assert!(output.contains("paths.schemas"), "{output}");
}
