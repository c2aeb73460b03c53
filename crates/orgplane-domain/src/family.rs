//! Linked organizations (product.md §6): a parent and its children form a family, a tree at
//! most five levels deep. Admins of an organization are admins of everything below it — decided
//! when a request arrives (the store derives the role from the tree), never copied — and a child
//! with shared billing is billed to the nearest ancestor that pays for itself.

use crate::error::Error;
use crate::ids::OrgId;

/// Levels a family may have, the root included.
pub const MAX_LEVELS: usize = 5;

/// How long an invitation to become a child stays open.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Who pays for a child's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// The parent's bill consolidates the child's usage (one section per organization).
    Shared,
    /// The child is billed on its own.
    Separate,
}

impl Billing {
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Shared => "shared",
            Billing::Separate => "separate",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, Error> {
        match s {
            "shared" => Ok(Billing::Shared),
            "separate" => Ok(Billing::Separate),
            _ => Err(Error::validation(field, "must be shared or separate")),
        }
    }
}

/// One organization of a family: its parent and, for a child, how it is billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: OrgId,
    pub parent: Option<OrgId>,
    pub billing: Option<Billing>,
}

/// Every organization of one family, in any order.
#[derive(Debug, Clone, Default)]
pub struct Family(pub Vec<Node>);

impl Family {
    fn node(&self, org: OrgId) -> Option<&Node> {
        self.0.iter().find(|n| n.id == org)
    }

    fn children(&self, org: OrgId) -> impl Iterator<Item = &Node> {
        self.0.iter().filter(move |n| n.parent == Some(org))
    }

    /// The ancestors of `org`, its parent first. Stops on a loop, which the rules below never
    /// let the store write.
    pub fn ancestors(&self, org: OrgId) -> Vec<OrgId> {
        let mut up = Vec::new();
        let mut at = self.node(org).and_then(|n| n.parent);
        while let Some(p) = at {
            if up.contains(&p) || p == org {
                break;
            }
            up.push(p);
            at = self.node(p).and_then(|n| n.parent);
        }
        up
    }

    /// The level of `org`: 1 for the root.
    pub fn level(&self, org: OrgId) -> usize {
        self.ancestors(org).len() + 1
    }

    /// `org` and everything below it, `org` first, then level by level.
    pub fn subtree(&self, org: OrgId) -> Vec<OrgId> {
        let mut all = vec![org];
        let mut i = 0;
        while i < all.len() {
            let next: Vec<OrgId> = self.children(all[i]).map(|n| n.id).filter(|id| !all.contains(id)).collect();
            all.extend(next);
            i += 1;
        }
        all
    }

    /// Levels in the subtree of `org`, `org` included (1 for a leaf).
    pub fn height(&self, org: OrgId) -> usize {
        let base = self.level(org);
        self.subtree(org).into_iter().map(|o| self.level(o) + 1 - base).max().unwrap_or(1)
    }

    /// The organization that pays for `org`'s usage: itself, unless it shares billing with its
    /// parent, in which case whoever pays for the parent.
    pub fn payer(&self, org: OrgId) -> OrgId {
        let mut at = org;
        for _ in 0..MAX_LEVELS {
            match self.node(at) {
                Some(Node { parent: Some(p), billing: Some(Billing::Shared), .. }) => at = *p,
                _ => break,
            }
        }
        at
    }

    /// The organizations whose usage `org`'s bill consolidates: `org` first, then every
    /// descendant it pays for.
    pub fn billed_to(&self, org: OrgId) -> Vec<OrgId> {
        self.subtree(org).into_iter().filter(|o| *o == org || self.payer(*o) == org).collect()
    }
}

/// Whether a new child may be created below `parent`.
pub fn check_new_child(family: &Family, parent: OrgId) -> Result<(), Error> {
    if family.level(parent) >= MAX_LEVELS {
        return Err(too_deep());
    }
    Ok(())
}

/// Whether `child` (with `child_family`, the family it heads today) may become a child of
/// `parent` (in `parent_family`): not itself, not one of its own descendants, not already a
/// child elsewhere, and the joined tree no deeper than [`MAX_LEVELS`].
pub fn check_link(parent_family: &Family, parent: OrgId, child_family: &Family, child: OrgId) -> Result<(), Error> {
    const FIELD: &str = "body.childOrganizationId";
    if parent == child {
        return Err(Error::invalid("LINK_TO_SELF", FIELD, "an organization cannot be its own child"));
    }
    if child_family.subtree(child).contains(&parent) || parent_family.ancestors(parent).contains(&child) {
        return Err(Error::invalid(
            "LINK_CYCLE",
            FIELD,
            "this organization is an ancestor of the parent: linking it would make a cycle",
        ));
    }
    if child_family.node(child).is_some_and(|n| n.parent.is_some()) {
        return Err(Error::invalid(
            "ALREADY_A_CHILD",
            FIELD,
            "this organization already has a parent: it must be unlinked first",
        ));
    }
    if parent_family.level(parent) + child_family.height(child) > MAX_LEVELS {
        return Err(too_deep());
    }
    Ok(())
}

fn too_deep() -> Error {
    Error::rule("FAMILY_TOO_DEEP", format!("a family of organizations may have at most {MAX_LEVELS} levels"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> OrgId {
        OrgId::from_i64(606_000_000_000 + n)
    }

    /// 1 ← 2 (shared) ← 3 (shared), 1 ← 4 (separate) ← 5 (shared).
    fn family() -> Family {
        let node = |n, parent: Option<i64>, billing| Node { id: id(n), parent: parent.map(id), billing };
        Family(vec![
            node(1, None, None),
            node(2, Some(1), Some(Billing::Shared)),
            node(3, Some(2), Some(Billing::Shared)),
            node(4, Some(1), Some(Billing::Separate)),
            node(5, Some(4), Some(Billing::Shared)),
        ])
    }

    fn alone(n: i64) -> Family {
        Family(vec![Node { id: id(n), parent: None, billing: None }])
    }

    #[test]
    fn levels_subtrees_and_payers() {
        let f = family();
        assert_eq!(f.ancestors(id(3)), vec![id(2), id(1)]);
        assert_eq!(f.level(id(1)), 1);
        assert_eq!(f.level(id(5)), 3);
        assert_eq!(f.height(id(1)), 3);
        assert_eq!(f.height(id(3)), 1);
        assert_eq!(f.subtree(id(4)), vec![id(4), id(5)]);
        assert_eq!(f.payer(id(3)), id(1));
        assert_eq!(f.payer(id(5)), id(4));
        assert_eq!(f.payer(id(4)), id(4));
        assert_eq!(f.billed_to(id(1)), vec![id(1), id(2), id(3)]);
        assert_eq!(f.billed_to(id(4)), vec![id(4), id(5)]);
        assert_eq!(f.billed_to(id(3)), vec![id(3)]);
    }

    #[test]
    fn links_refused_for_self_cycles_second_parents_and_depth() {
        let f = family();
        let code = |r: Result<(), Error>| match r {
            Err(Error::Invalid { code, .. }) => code.to_string(),
            Err(e) => format!("{e:?}"),
            Ok(()) => "ok".into(),
        };
        assert_eq!(code(check_link(&alone(9), id(9), &alone(9), id(9))), "LINK_TO_SELF");
        // The root of the family under one of its descendants.
        assert_eq!(code(check_link(&f, id(3), &f, id(1))), "LINK_CYCLE");
        // Already a child of 1.
        assert_eq!(code(check_link(&alone(9), id(9), &f, id(2))), "ALREADY_A_CHILD");
        assert_eq!(code(check_link(&f, id(5), &alone(9), id(9))), "ok");
        // A three-level family under level 3 would need six levels.
        assert!(code(check_link(&f, id(3), &family_at(100), id(101))).contains("FAMILY_TOO_DEEP"));
        assert!(check_new_child(&f, id(3)).is_ok());
        let deep = Family(
            (1..=5)
                .map(|n| Node { id: id(n), parent: (n > 1).then(|| id(n - 1)), billing: Some(Billing::Separate) })
                .collect(),
        );
        assert!(check_new_child(&deep, id(4)).is_ok());
        assert!(check_new_child(&deep, id(5)).is_err());
    }

    fn family_at(base: i64) -> Family {
        let mut f = family();
        for n in &mut f.0 {
            n.id = id(n.id.as_i64() - 606_000_000_000 + base);
            n.parent = n.parent.map(|p| id(p.as_i64() - 606_000_000_000 + base));
        }
        f
    }

    #[test]
    fn billing_values() {
        assert_eq!(Billing::parse("body.billing", "shared").unwrap(), Billing::Shared);
        assert!(Billing::parse("body.billing", "SHARED").is_err());
    }
}
