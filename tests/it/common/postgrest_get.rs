//! The read half of the PostgREST double (used by `postgrest.rs`), from PostgREST's
//! documentation of horizontal filtering, ordering and function calls:
//! - `GET /rest/v1/{table or view}?select=a,b&order=a.desc,b.desc.nullslast&limit=n` with
//!   filters `col=op.value` (`eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `match`, `is.null`,
//!   `in.(a,b)`, each negated by a `not.` before it; several on one column all hold), JSON
//!   paths `col->>key`, and logic trees `and=(…)` / `or=(…)` nesting `and(…)` / `or(…)`,
//!   values optionally double-quoted with `\` escapes;
//! - `GET /rest/v1/rpc/{function}?arg=value`: only for `STABLE` or `IMMUTABLE` functions (405
//!   otherwise, as PostgREST answers), arguments cast to the declared types, the result as
//!   JSON;
//! - `Prefer: count=exact`: the count of the rows the filters select (`Content-Range`).
//!
//! Values are compared after casting to the column's own type, like PostgREST, and travel
//! as bound parameters; each GET runs in a `READ ONLY` transaction, as PostgREST runs them.
#![allow(dead_code)]

use serde_json::{Value, json};
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

fn err(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"code": code, "message": message, "details": null, "hint": null}),
    )
}

fn ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits `a,b(c,d),"e,f"` at top-level commas.
fn split_items(s: &str) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut depth, mut quoted, mut esc) = (0, false, false);
    for c in s.chars() {
        if quoted {
            cur.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut esc = false;
            for c in inner.chars() {
                if esc {
                    out.push(c);
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

struct Builder<'a> {
    types: &'a [(String, String)],
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Builder<'_> {
    fn bind(&mut self, v: Box<dyn ToSql + Sync + Send>) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }

    /// `col.op.value` (tree form) or, with `sep` `=`, `col=op.value`.
    fn cond(&mut self, field: &str, opval: &str) -> Result<String, String> {
        let (lhs, ty) = if let Some((col, key)) = field.split_once("->>") {
            if !ident(col) || !ident(key) {
                return Err(format!("bad JSON path {field}"));
            }
            let k = self.bind(Box::new(key.to_owned()));
            (format!("({col} ->> {k})"), "text".to_owned())
        } else {
            let ty = self
                .types
                .iter()
                .find(|(c, _)| c == field)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| format!("column {field} does not exist"))?;
            (field.to_owned(), ty)
        };
        let (op, value) = opval
            .split_once('.')
            .ok_or_else(|| format!("bad filter {opval}"))?;
        if op == "not" {
            return Ok(format!("NOT ({})", self.cond(field, value)?));
        }
        let value = unquote(value);
        Ok(match op {
            "is" if value == "null" => format!("{lhs} IS NULL"),
            "in" => {
                let inner = value
                    .strip_prefix('(')
                    .and_then(|v| v.strip_suffix(')'))
                    .ok_or("bad in.() list")?;
                let list: Vec<String> = split_items(inner).iter().map(|v| unquote(v)).collect();
                let p = self.bind(Box::new(list));
                format!("{lhs}::text = ANY({p}::text[])")
            }
            "match" => {
                let p = self.bind(Box::new(value));
                format!("{lhs}::text ~ {p}::text")
            }
            _ => {
                let sql_op = match op {
                    "eq" => "=",
                    "neq" => "<>",
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    "lte" => "<=",
                    _ => return Err(format!("unknown operator {op}")),
                };
                let p = self.bind(Box::new(value));
                format!("{lhs} {sql_op} ({p}::text)::{ty}")
            }
        })
    }

    /// A logic tree `(item,item,…)` joined with `joiner`.
    fn tree(&mut self, joiner: &str, body: &str) -> Result<String, String> {
        let inner = body
            .strip_prefix('(')
            .and_then(|b| b.strip_suffix(')'))
            .ok_or_else(|| format!("bad logic tree {body}"))?;
        let mut parts = Vec::new();
        for item in split_items(inner) {
            if let Some(rest) = item.strip_prefix("and(") {
                parts.push(self.tree("AND", &format!("({rest}"))?);
            } else if let Some(rest) = item.strip_prefix("or(") {
                parts.push(self.tree("OR", &format!("({rest}"))?);
            } else {
                let (field, opval) = item
                    .split_once('.')
                    .ok_or_else(|| format!("bad item {item}"))?;
                parts.push(self.cond(field, opval)?);
            }
        }
        Ok(format!("({})", parts.join(&format!(" {joiner} "))))
    }
}

/// A request on a table, read: its columns, order, limit, and the conditions of its filters
/// with their bound values.
pub struct Parsed {
    pub table: String,
    pub select: String,
    pub order: String,
    pub limit: Option<u64>,
    pub wheres: String,
    pub params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Parsed {
    pub fn args(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Reads the query string of a request on `table` (any method: `GET`, and the filters of
/// `PATCH` and `DELETE`).
pub fn parse(
    table: &str,
    query: &str,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    decode: impl Fn(&str) -> String,
) -> Result<Parsed, (u16, Value)> {
    if !ident(table) {
        return Err(err(400, "PGRST100", "bad table name"));
    }
    let types: Vec<(String, String)> = match rt.block_on(client.query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
        &[&table],
    )) {
        Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        Err(e) => return Err(err(500, "XX000", &e.to_string())),
    };
    if types.is_empty() {
        return Err(err(
            404,
            "PGRST205",
            &format!("Could not find the table 'public.{table}' in the schema cache"),
        ));
    }
    let mut b = Builder {
        types: &types,
        params: Vec::new(),
    };
    let (mut select, mut order, mut limit) = ("*".to_owned(), String::new(), None);
    let mut wheres: Vec<String> = Vec::new();
    for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
        let v = decode(v);
        let r = match k {
            "select" if v == "*" || v.split(',').all(ident) => {
                select = v;
                Ok(())
            }
            "order" => {
                let mut terms = Vec::new();
                for t in v.split(',') {
                    let mut it = t.split('.');
                    let col = it.next().unwrap_or("");
                    let mut term = col.to_owned();
                    if !ident(col) {
                        return Err(err(400, "PGRST100", &format!("bad order {v}")));
                    }
                    for m in it {
                        term.push_str(match m {
                            "asc" => " ASC",
                            "desc" => " DESC",
                            "nullsfirst" => " NULLS FIRST",
                            "nullslast" => " NULLS LAST",
                            _ => return Err(err(400, "PGRST100", &format!("bad order {v}"))),
                        });
                    }
                    terms.push(term);
                }
                order = format!(" ORDER BY {}", terms.join(", "));
                Ok(())
            }
            "limit" => match v.parse::<u64>() {
                Ok(n) => {
                    limit = Some(n);
                    Ok(())
                }
                Err(_) => Err(format!("bad limit {v}")),
            },
            "and" => b.tree("AND", &v).map(|w| wheres.push(w)),
            "or" => b.tree("OR", &v).map(|w| wheres.push(w)),
            col => b.cond(col, &v).map(|w| wheres.push(w)),
        };
        if let Err(m) = r {
            return Err(err(400, "PGRST100", &m));
        }
    }
    let wheres = if wheres.is_empty() {
        "true".to_owned()
    } else {
        wheres.join(" AND ")
    };
    Ok(Parsed {
        table: table.to_owned(),
        select,
        order,
        limit,
        wheres,
        params: b.params,
    })
}

/// Answers one GET; `query` is the raw query string; `max_rows` caps a table's rows as
/// PostgREST's `db-max-rows` does.
pub fn get(
    path: &str,
    query: &str,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    decode: impl Fn(&str) -> String,
    max_rows: Option<u64>,
) -> (u16, Value) {
    if let Some(function) = path.strip_prefix("rpc/") {
        return rpc_get(function, query, rt, client, decode);
    }
    let p = match parse(path, query, rt, client, decode) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let limit = match (p.limit, max_rows) {
        (Some(n), Some(m)) => format!(" LIMIT {}", n.min(m)),
        (Some(n), None) | (None, Some(n)) => format!(" LIMIT {n}"),
        (None, None) => String::new(),
    };
    let sql = format!(
        "SELECT COALESCE(json_agg(t), '[]')::text FROM (SELECT {} FROM {} WHERE {}{}{limit}) t",
        p.select, p.table, p.wheres, p.order
    );
    read_only(rt, client, &sql, &p.args())
}

/// `Prefer: count=exact` on a GET: how many rows its filters select, whatever its limit (what
/// PostgREST puts after the `/` of `Content-Range`).
pub fn count(
    path: &str,
    query: &str,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    decode: impl Fn(&str) -> String,
) -> Option<i64> {
    let p = parse(path, query, rt, client, decode).ok()?;
    let sql = format!("SELECT count(*) FROM {} WHERE {}", p.table, p.wheres);
    rt.block_on(client.query_one(&sql, &p.args()))
        .ok()
        .map(|r| r.get(0))
}

/// Runs `sql` (one text column holding JSON) in a READ ONLY transaction.
fn read_only(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    sql: &str,
    args: &[&(dyn ToSql + Sync)],
) -> (u16, Value) {
    let r = rt.block_on(async {
        client.batch_execute("BEGIN TRANSACTION READ ONLY").await?;
        let r = client.query_one(sql, args).await;
        client.batch_execute("COMMIT").await?;
        r
    });
    match r {
        Ok(row) => (
            200,
            serde_json::from_str(&row.get::<_, String>(0)).unwrap_or(Value::Null),
        ),
        Err(e) => {
            let _ = rt.block_on(client.batch_execute("ROLLBACK"));
            let db = e.as_db_error();
            let code = db.map(|d| d.code().code().to_owned()).unwrap_or_default();
            let message = db
                .map(|d| d.message().to_owned())
                .unwrap_or_else(|| e.to_string());
            let status = if code.starts_with("22") || code.starts_with("42") {
                400
            } else {
                500
            };
            err(status, &code, &message)
        }
    }
}

fn rpc_get(
    function: &str,
    query: &str,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    decode: impl Fn(&str) -> String,
) -> (u16, Value) {
    let missing = || {
        err(
            404,
            "PGRST202",
            &format!("Could not find the function public.{function} in the schema cache"),
        )
    };
    if !ident(function) {
        return missing();
    }
    let row = match rt.block_on(client.query_opt(
        "SELECT COALESCE(proargnames, '{}')::text[], string_to_array(oidvectortypes(proargtypes), ', '), provolatile::text \
         FROM pg_proc WHERE proname = $1 AND pronamespace::regnamespace::text = ANY(current_schemas(false)::text[]) LIMIT 1",
        &[&function],
    )) {
        Ok(Some(r)) => r,
        Ok(None) => return missing(),
        Err(e) => return err(500, "XX000", &e.to_string()),
    };
    let names: Vec<String> = row.get(0);
    let types: Vec<String> = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
    let volatile: String = row.get(2);
    if volatile == "v" {
        return err(
            405,
            "PGRST101",
            "Cannot use the GET method on RPC for a volatile function",
        );
    }
    let mut params: Vec<String> = Vec::new();
    let mut named = Vec::new();
    for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
        let Some(i) = names.iter().position(|n| n == k) else {
            return missing();
        };
        params.push(decode(v));
        named.push(format!("{k} := (${}::text)::{}", params.len(), types[i]));
    }
    let sql = format!("SELECT {function}({})::text", named.join(", "));
    let args: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    read_only(rt, client, &sql, &args)
}
