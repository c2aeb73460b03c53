//! SCIM filters from arbitrary UTF-8: parsing never panics; a parsed filter prints to a text
//! that parses back to the same filter; its SQL translation holds nothing but fixed SQL, the
//! mapper's columns and one placeholder per bound value; in-memory evaluation never panics.
//! The same input is also tried as a PATCH path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgplane_domain::scim::{AttrPath, Column, PatchPath, matches, parse_filter, to_sql};

/// Every attribute is filterable; its kind is picked from its name so all kinds are reached.
fn any_column(path: &AttrPath) -> Option<Column> {
    let n = path.attr.len() + path.sub.as_ref().map_or(0, String::len);
    Some(match n % 5 {
        0 => Column::text("c_text"),
        1 => Column::text_exact("c_exact"),
        2 => Column::boolean("c_bool"),
        3 => Column::integer("c_int"),
        _ => Column::timestamp_millis("c_ts"),
    })
}

const VOCABULARY: &[&str] = &[
    "LOWER", "LIKE", "ESCAPE", "'\\'", "AND", "OR", "NOT", "COALESCE", "FALSE", "IS", "NULL", "=", "<>", ">", ">=",
    "<", "<=", "''", "SUBSTR", "LENGTH", "REPLACE", "1", "-", "+", "c_text", "c_exact", "c_bool", "c_int", "c_ts",
];

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(path) = PatchPath::parse(input) {
        let text = path.to_string();
        assert_eq!(PatchPath::parse(&text).as_ref(), Ok(&path), "{text}");
    }
    let Ok(filter) = parse_filter(input) else { return };
    let text = filter.to_string();
    assert_eq!(parse_filter(&text).as_ref(), Ok(&filter), "{text}");

    let resource = serde_json::json!({
        "userName": "bjensen", "active": true, "n": 7,
        "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"}
    });
    let _ = matches(&filter, &resource);

    let first = 1 + data.len() % 3;
    if let Ok(out) = to_sql(&filter, &any_column, first) {
        let mut placeholders = 0;
        for token in out.sql.replace(['(', ')', ','], " ").split_whitespace() {
            if let Some(n) = token.strip_prefix('$') {
                let n: usize = n.parse().expect("a numbered placeholder");
                assert_eq!(n, first + placeholders, "placeholders in order: {}", out.sql);
                placeholders += 1;
            } else {
                assert!(VOCABULARY.contains(&token), "unexpected SQL token {token:?} in {}", out.sql);
            }
        }
        assert_eq!(placeholders, out.params.len(), "{}", out.sql);
    }
});
