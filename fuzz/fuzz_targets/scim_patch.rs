//! SCIM PATCH bodies from arbitrary JSON: parsing and applying never panic; a failed PATCH
//! leaves the resource as it was; read-only attributes (`id`, `meta`) never change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgplane_domain::scim::{apply_patch, parse_patch};
use serde_json::{Value, json};

fn writable(attr: &str) -> bool {
    !attr.eq_ignore_ascii_case("id") && !attr.eq_ignore_ascii_case("meta")
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(ops) = parse_patch(&body) else { return };
    let original = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223",
        "userName": "bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "members": [{"value": "u-1", "display": "A"}, {"value": "u-2"}],
        "tags": ["a", "b"],
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    });
    let mut resource = original.clone();
    match apply_patch(&mut resource, &ops, &writable) {
        Ok(()) => {
            assert_eq!(resource.get("id"), original.get("id"));
            assert_eq!(resource.get("meta"), original.get("meta"));
        }
        Err(_) => assert_eq!(resource, original),
    }
});
