//! A SCIM filter as a SQL `WHERE` fragment with numbered placeholders (`$1`, `$2`, …, which
//! sqlx's `Any` driver takes on SQLite and PostgreSQL alike) and the values to bind. Values are
//! never written into the SQL: the only SQL text is fixed keywords, the placeholders and the
//! column expressions the caller's mapper returns.
//!
//! Semantics match [`super::matches()`]: an absent (NULL) attribute fails every comparison except
//! `ne` and `eq null`, and `not` is two-valued (`NOT COALESCE(…, FALSE)`), so `not (x eq 1)`
//! keeps the rows where `x` is NULL.

use super::filter::{CompValue, CompareOp, Filter};
use super::{AttrPath, scim_error, scim_type};
use crate::error::{Error, Result};

/// How a column stores an attribute, which decides the comparisons allowed and how values
/// are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// TEXT. `case_exact: false` (RFC 7643's default) compares `LOWER(col)` with `LOWER($n)`.
    Text { case_exact: bool },
    /// SMALLINT 0/1 flag; bound as [`SqlValue::Bool`]. Only `eq`, `ne` and `pr` apply.
    Boolean,
    /// BIGINT compared with JSON integers.
    Integer,
    /// BIGINT unix milliseconds compared with RFC 3339 strings (`meta.lastModified`).
    TimestampMillis,
}

/// Where an attribute lives: a SQL expression chosen by the caller (a column, `u.email`, or a
/// constant such as `'work'`; it is written into the SQL as it is, so it must never come from
/// the request) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub sql: String,
    pub kind: ColumnKind,
}

impl Column {
    /// A case-insensitive text column (`userName`, `emails.value`, `displayName`).
    pub fn text(sql: impl Into<String>) -> Self {
        Column { sql: sql.into(), kind: ColumnKind::Text { case_exact: false } }
    }

    /// A case-exact text column (`id`, `externalId`).
    pub fn text_exact(sql: impl Into<String>) -> Self {
        Column { sql: sql.into(), kind: ColumnKind::Text { case_exact: true } }
    }

    /// A SMALLINT 0/1 flag (`active`).
    pub fn boolean(sql: impl Into<String>) -> Self {
        Column { sql: sql.into(), kind: ColumnKind::Boolean }
    }

    /// A BIGINT number.
    pub fn integer(sql: impl Into<String>) -> Self {
        Column { sql: sql.into(), kind: ColumnKind::Integer }
    }

    /// A BIGINT of unix milliseconds (`meta.created`, `meta.lastModified`).
    pub fn timestamp_millis(sql: impl Into<String>) -> Self {
        Column { sql: sql.into(), kind: ColumnKind::TimestampMillis }
    }
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    /// Integers and timestamps (milliseconds).
    Int(i64),
    /// A flag: bind as `i16::from(b)` (flags are SMALLINT 0/1).
    Bool(bool),
}

/// The translation: `sql` is a boolean expression safe to combine with `AND` (every compound
/// part is parenthesised); `params[i]` binds placeholder `$(first_param + i)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// Translates `filter` for the columns `columns` maps attribute paths to (`None`: the attribute
/// cannot be filtered on → `invalidFilter` naming it). Inside a value filter `emails[type eq
/// "work"]` the mapper is asked for `emails.type`. Placeholders are numbered from
/// `first_param` (1 when the filter's values are the first to bind).
pub fn to_sql(filter: &Filter, columns: &dyn Fn(&AttrPath) -> Option<Column>, first_param: usize) -> Result<SqlFilter> {
    if first_param == 0 {
        return Err(Error::internal("SQL placeholders are numbered from 1"));
    }
    let mut t = Translator { columns, next: first_param, params: Vec::new() };
    let sql = t.expr(filter, None)?;
    Ok(SqlFilter { sql, params: t.params })
}

struct Translator<'a> {
    columns: &'a dyn Fn(&AttrPath) -> Option<Column>,
    next: usize,
    params: Vec<SqlValue>,
}

fn invalid(message: impl Into<String>) -> Error {
    scim_error(scim_type::INVALID_FILTER, "filter", message)
}

/// `s` as a LIKE pattern body matching itself literally under `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Translator<'_> {
    fn bind(&mut self, value: SqlValue) -> String {
        let n = self.next;
        self.next += 1;
        self.params.push(value);
        format!("${n}")
    }

    fn column(&self, path: &AttrPath, parent: Option<&AttrPath>) -> Result<(AttrPath, Column)> {
        let full = match parent {
            Some(parent) => AttrPath::child(parent, path),
            None => path.clone(),
        };
        match (self.columns)(&full) {
            Some(column) => Ok((full, column)),
            None => Err(invalid(format!("cannot filter on attribute \"{full}\""))),
        }
    }

    fn expr(&mut self, filter: &Filter, parent: Option<&AttrPath>) -> Result<String> {
        Ok(match filter {
            Filter::Compare { path, op, value } => {
                let (full, column) = self.column(path, parent)?;
                self.compare(&full, &column, *op, value)?
            }
            Filter::Present(path) => {
                let (_, column) = self.column(path, parent)?;
                let col = &column.sql;
                match column.kind {
                    ColumnKind::Text { .. } => format!("({col} IS NOT NULL AND {col} <> '')"),
                    _ => format!("{col} IS NOT NULL"),
                }
            }
            Filter::And(operands) => self.join(operands, " AND ", parent)?,
            Filter::Or(operands) => self.join(operands, " OR ", parent)?,
            Filter::Not(inner) => format!("NOT COALESCE({}, FALSE)", self.expr(inner, parent)?),
            Filter::ValuePath { path, filter } => {
                if parent.is_some() {
                    return Err(invalid("value filters cannot be nested"));
                }
                self.expr(filter, Some(path))?
            }
        })
    }

    fn join(&mut self, operands: &[Filter], sep: &str, parent: Option<&AttrPath>) -> Result<String> {
        let parts = operands.iter().map(|f| self.expr(f, parent)).collect::<Result<Vec<_>>>()?;
        Ok(format!("({})", parts.join(sep)))
    }

    fn compare(&mut self, path: &AttrPath, column: &Column, op: CompareOp, value: &CompValue) -> Result<String> {
        let col = &column.sql;
        if let CompValue::Null = value {
            let text = matches!(column.kind, ColumnKind::Text { .. });
            return match (op, text) {
                (CompareOp::Eq, true) => Ok(format!("({col} IS NULL OR {col} = '')")),
                (CompareOp::Eq, false) => Ok(format!("{col} IS NULL")),
                (CompareOp::Ne, true) => Ok(format!("({col} IS NOT NULL AND {col} <> '')")),
                (CompareOp::Ne, false) => Ok(format!("{col} IS NOT NULL")),
                _ => Err(invalid(format!("\"{op}\" cannot compare \"{path}\" with null"))),
            };
        }
        match column.kind {
            ColumnKind::Text { case_exact } => {
                let CompValue::Str(s) = value else {
                    return Err(invalid(format!("\"{path}\" is a string: compare it with a string")));
                };
                self.text(col, case_exact, op, s)
            }
            ColumnKind::Boolean => {
                let CompValue::Bool(b) = value else {
                    return Err(invalid(format!("\"{path}\" is a boolean: compare it with true or false")));
                };
                let p = self.bind(SqlValue::Bool(*b));
                match op {
                    CompareOp::Eq => Ok(format!("{col} = {p}")),
                    CompareOp::Ne => Ok(format!("({col} IS NULL OR {col} <> {p})")),
                    _ => Err(invalid(format!("\"{op}\" does not apply to the boolean \"{path}\""))),
                }
            }
            ColumnKind::Integer => {
                let n = match value {
                    CompValue::Num(n) => n.as_i64(),
                    _ => None,
                };
                let Some(n) = n else {
                    return Err(invalid(format!("\"{path}\" is an integer: compare it with an integer")));
                };
                self.ordered(col, path, op, n)
            }
            ColumnKind::TimestampMillis => {
                let ms = match value {
                    CompValue::Str(s) => crate::timefmt::parse_rfc3339(s),
                    _ => None,
                };
                let Some(ms) = ms else {
                    return Err(invalid(format!("\"{path}\" is a date-time: compare it with an RFC 3339 string")));
                };
                self.ordered(col, path, op, ms)
            }
        }
    }

    fn ordered(&mut self, col: &str, path: &AttrPath, op: CompareOp, n: i64) -> Result<String> {
        if op.is_substring() {
            return Err(invalid(format!("\"{op}\" applies to strings, not to \"{path}\"")));
        }
        let p = self.bind(SqlValue::Int(n));
        Ok(match op {
            CompareOp::Ne => format!("({col} IS NULL OR {col} <> {p})"),
            _ => format!("{col} {} {p}", sql_op(op)),
        })
    }

    fn text(&mut self, col: &str, case_exact: bool, op: CompareOp, s: &str) -> Result<String> {
        if op.is_substring() && s.is_empty() {
            // Every string contains, starts and ends with "".
            return Ok(format!("{col} IS NOT NULL"));
        }
        if case_exact {
            // SQLite's LIKE ignores ASCII case whatever the collation, so case-exact substring
            // tests use functions both databases have instead.
            return Ok(match op {
                CompareOp::Co => {
                    let p = self.bind(SqlValue::Text(s.to_string()));
                    format!("REPLACE({col}, {p}, '') <> {col}")
                }
                CompareOp::Sw => {
                    let p1 = self.bind(SqlValue::Text(s.to_string()));
                    let p2 = self.bind(SqlValue::Text(s.to_string()));
                    format!("SUBSTR({col}, 1, LENGTH({p1})) = {p2}")
                }
                CompareOp::Ew => {
                    let p1 = self.bind(SqlValue::Text(s.to_string()));
                    let p2 = self.bind(SqlValue::Text(s.to_string()));
                    format!("SUBSTR({col}, LENGTH({col}) - LENGTH({p1}) + 1) = {p2}")
                }
                CompareOp::Ne => {
                    let p = self.bind(SqlValue::Text(s.to_string()));
                    format!("({col} IS NULL OR {col} <> {p})")
                }
                _ => {
                    let p = self.bind(SqlValue::Text(s.to_string()));
                    format!("{col} {} {p}", sql_op(op))
                }
            });
        }
        let pattern = match op {
            CompareOp::Co => Some(format!("%{}%", like_escape(s))),
            CompareOp::Sw => Some(format!("{}%", like_escape(s))),
            CompareOp::Ew => Some(format!("%{}", like_escape(s))),
            _ => None,
        };
        let p = self.bind(SqlValue::Text(pattern.unwrap_or_else(|| s.to_string())));
        Ok(match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => format!("LOWER({col}) LIKE LOWER({p}) ESCAPE '\\'"),
            CompareOp::Ne => format!("({col} IS NULL OR LOWER({col}) <> LOWER({p}))"),
            _ => format!("LOWER({col}) {} LOWER({p})", sql_op(op)),
        })
    }
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Substring operators never reach here.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "LIKE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;
    use proptest::prelude::*;

    /// The columns of a users table as a store might map them.
    fn users(path: &AttrPath) -> Option<Column> {
        if path.is("userName") {
            Some(Column::text("u.user_name"))
        } else if path.is("id") {
            Some(Column::text_exact("u.id"))
        } else if path.is("externalId") {
            Some(Column::text_exact("u.external_id"))
        } else if path.is("name.familyName") {
            Some(Column::text("u.family_name"))
        } else if path.is("title") {
            Some(Column::text("u.title"))
        } else if path.is("userType") {
            Some(Column::text("u.user_type"))
        } else if path.is("emails") || path.is("emails.value") {
            Some(Column::text("u.email"))
        } else if path.is("emails.type") {
            Some(Column::text("'work'"))
        } else if path.is("active") {
            Some(Column::boolean("u.active"))
        } else if path.is("loginCount") {
            Some(Column::integer("u.login_count"))
        } else if path.is("meta.lastModified") {
            Some(Column::timestamp_millis("u.updated_at"))
        } else {
            None
        }
    }

    fn sql(filter: &str) -> (String, Vec<SqlValue>) {
        let f = parse_filter(filter).unwrap();
        let out = to_sql(&f, &users, 1).unwrap_or_else(|e| panic!("{filter}: {e}"));
        (out.sql, out.params)
    }

    fn text(s: &str) -> SqlValue {
        SqlValue::Text(s.to_string())
    }

    fn code_and_message(filter: &str) -> (&'static str, String) {
        match to_sql(&parse_filter(filter).unwrap(), &users, 1) {
            Err(Error::Invalid { code, message, .. }) => (code, message),
            other => panic!("{filter}: {other:?}"),
        }
    }

    #[test]
    fn rfc_examples_as_sql() {
        assert_eq!(sql(r#"userName eq "bjensen""#), ("LOWER(u.user_name) = LOWER($1)".into(), vec![text("bjensen")]));
        assert_eq!(
            sql(r#"name.familyName co "O'Malley""#),
            ("LOWER(u.family_name) LIKE LOWER($1) ESCAPE '\\'".into(), vec![text("%O'Malley%")])
        );
        assert_eq!(
            sql(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
            ("LOWER(u.user_name) LIKE LOWER($1) ESCAPE '\\'".into(), vec![text("J%")])
        );
        assert_eq!(sql("title pr"), ("(u.title IS NOT NULL AND u.title <> '')".into(), vec![]));
        assert_eq!(
            sql(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
            ("u.updated_at > $1".into(), vec![SqlValue::Int(1_305_261_754_000)])
        );
        assert_eq!(sql(r#"meta.lastModified le "2011-05-13T04:42:34Z""#).0, "u.updated_at <= $1");
        assert_eq!(
            sql(r#"title pr and userType eq "Employee""#),
            (
                "((u.title IS NOT NULL AND u.title <> '') AND LOWER(u.user_type) = LOWER($1))".into(),
                vec![text("Employee")]
            )
        );
        assert_eq!(
            sql(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#),
            (
                "(LOWER(u.user_type) = LOWER($1) AND (LOWER(u.email) LIKE LOWER($2) ESCAPE '\\' \
                 OR LOWER(u.email) LIKE LOWER($3) ESCAPE '\\'))"
                    .into(),
                vec![text("Employee"), text("%example.com%"), text("%example.org%")]
            )
        );
        assert_eq!(
            sql(r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#),
            (
                "((u.user_type IS NULL OR LOWER(u.user_type) <> LOWER($1)) AND NOT COALESCE((LOWER(u.email) LIKE \
                 LOWER($2) ESCAPE '\\' OR LOWER(u.email) LIKE LOWER($3) ESCAPE '\\'), FALSE))"
                    .into(),
                vec![text("Employee"), text("%example.com%"), text("%example.org%")]
            )
        );
        assert_eq!(
            sql(r#"emails[type eq "work" and value co "@example.com"]"#),
            (
                "(LOWER('work') = LOWER($1) AND LOWER(u.email) LIKE LOWER($2) ESCAPE '\\')".into(),
                vec![text("work"), text("%@example.com%")]
            )
        );
        assert_eq!(
            sql(r#"emails[type eq "work"].value eq "a@b.c""#),
            ("(LOWER('work') = LOWER($1) AND LOWER(u.email) = LOWER($2))".into(), vec![text("work"), text("a@b.c")])
        );
    }

    #[test]
    fn placeholders_start_where_asked() {
        let f = parse_filter(r#"userName eq "a" or userName eq "b""#).unwrap();
        let out = to_sql(&f, &users, 3).unwrap();
        assert_eq!(out.sql, "(LOWER(u.user_name) = LOWER($3) OR LOWER(u.user_name) = LOWER($4))");
        assert_eq!(out.params, vec![text("a"), text("b")]);
        assert!(matches!(to_sql(&f, &users, 0), Err(Error::Internal(_))));
    }

    #[test]
    fn injection_attempts_stay_bound_values() {
        for evil in [r#"x' OR 1=1 --"#, r#"'); DROP TABLE users; --"#, r#"$1"#, r#"\' OR '1'='1"#] {
            let filter = format!("userName eq {}", serde_json::Value::from(evil));
            let (q, params) = sql(&filter);
            assert_eq!(q, "LOWER(u.user_name) = LOWER($1)");
            assert_eq!(params, vec![text(evil)]);
        }
        let (q, params) = sql(r#"userName co "x' OR 1=1 --""#);
        assert_eq!(q, "LOWER(u.user_name) LIKE LOWER($1) ESCAPE '\\'");
        assert_eq!(params, vec![text("%x' OR 1=1 --%")]);
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(sql(r#"userName co "50%_off\\x""#).1, vec![text(r"%50\%\_off\\x%")]);
        assert_eq!(sql(r#"userName sw "%""#).1, vec![text(r"\%%")]);
        assert_eq!(sql(r#"userName ew "_""#).1, vec![text(r"%\_")]);
        assert_eq!(sql(r#"userName co """#), ("u.user_name IS NOT NULL".into(), vec![]));
    }

    #[test]
    fn case_exact_text_avoids_like() {
        assert_eq!(sql(r#"id eq "AbC""#), ("u.id = $1".into(), vec![text("AbC")]));
        assert_eq!(sql(r#"id co "b%""#), ("REPLACE(u.id, $1, '') <> u.id".into(), vec![text("b%")]));
        assert_eq!(sql(r#"id sw "A""#), ("SUBSTR(u.id, 1, LENGTH($1)) = $2".into(), vec![text("A"), text("A")]));
        assert_eq!(
            sql(r#"externalId ew "9""#),
            ("SUBSTR(u.external_id, LENGTH(u.external_id) - LENGTH($1) + 1) = $2".into(), vec![text("9"), text("9")])
        );
        assert_eq!(sql(r#"id ne "x""#).0, "(u.id IS NULL OR u.id <> $1)");
        assert_eq!(sql(r#"id gt "x""#).0, "u.id > $1");
    }

    #[test]
    fn booleans_integers_and_nulls() {
        assert_eq!(sql("active eq true"), ("u.active = $1".into(), vec![SqlValue::Bool(true)]));
        assert_eq!(
            sql("active ne false"),
            ("(u.active IS NULL OR u.active <> $1)".into(), vec![SqlValue::Bool(false)])
        );
        assert_eq!(sql("active pr"), ("u.active IS NOT NULL".into(), vec![]));
        assert_eq!(sql("loginCount ge 3"), ("u.login_count >= $1".into(), vec![SqlValue::Int(3)]));
        assert_eq!(sql("title eq null"), ("(u.title IS NULL OR u.title = '')".into(), vec![]));
        assert_eq!(sql("active ne null").0, "u.active IS NOT NULL");
        assert_eq!(sql(r#"userName gt "m""#).0, "LOWER(u.user_name) > LOWER($1)");
    }

    #[test]
    fn wrong_types_and_unknown_attributes_are_invalid_filter() {
        let cases = [
            ("nickName eq \"x\"", "cannot filter on attribute \"nickName\""),
            ("emails[primary eq true]", "cannot filter on attribute \"emails.primary\""),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq \"x\"", "cannot filter on"),
            ("userName eq 1", "is a string"),
            ("userName eq true", "is a string"),
            ("active eq \"true\"", "is a boolean"),
            ("active gt true", "does not apply"),
            ("active co true", "does not apply"),
            ("loginCount eq 1.5", "is an integer"),
            ("loginCount co 1", "applies to strings"),
            ("meta.lastModified gt \"yesterday\"", "RFC 3339"),
            ("meta.lastModified gt 5", "RFC 3339"),
            ("meta.lastModified sw \"2011-05-13T04:42:34Z\"", "applies to strings"),
            ("userName gt null", "with null"),
        ];
        for (filter, expected) in cases {
            let (code, message) = code_and_message(filter);
            assert_eq!(code, "invalidFilter");
            assert!(message.contains(expected), "{filter}: {message}");
        }
    }

    proptest! {
        #[test]
        fn placeholders_match_params(values in prop::collection::vec("[ -~]{0,12}", 1..8), first in 1usize..5) {
            let filter = values
                .iter()
                .map(|v| format!("userName co {}", serde_json::Value::from(v.as_str())))
                .collect::<Vec<_>>()
                .join(" or ");
            let f = parse_filter(&filter).unwrap();
            let out = to_sql(&f, &users, first).unwrap();
            let nonempty = values.iter().filter(|v| !v.is_empty()).count();
            prop_assert_eq!(out.params.len(), nonempty);
            for i in 0..nonempty {
                let placeholder = format!("${}", first + i);
                prop_assert!(out.sql.contains(&placeholder));
            }
            // No value text ever reaches the SQL: it holds only the fixed pieces.
            let residue = out.sql
                .replace("LOWER(u.user_name) LIKE LOWER(", "")
                .replace(") ESCAPE '\\'", "")
                .replace("u.user_name IS NOT NULL", "")
                .replace(" OR ", "");
            prop_assert!(residue.chars().all(|c| c == '$' || c == '(' || c == ')' || c.is_ascii_digit()), "{}", residue);
        }
    }
}
