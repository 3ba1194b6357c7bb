//! Directory listings: where a directory without an index becomes an HTML
//! page of its entries. Not implemented yet: with listings off (the
//! default, and for now the only behaviour) a directory without an index
//! is a miss.

use super::Plan;
use crate::Site;

/// A [`Plan::Directory`] becomes a miss; every other plan passes through.
pub(crate) fn directory<H>(plan: Plan<H>, _site: &Site) -> Plan<H> {
    match plan {
        Plan::Directory { .. } => Plan::NotFound,
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::SafePath;

    #[test]
    fn a_directory_without_index_is_a_miss_and_nothing_else_changes() {
        let site = Site::default();
        let plan: Plan<()> = directory(Plan::Directory { path: SafePath::root() }, &site);
        assert!(matches!(plan, Plan::NotFound));
        let plan: Plan<()> = directory(Plan::Redirect { location: "/d/".into() }, &site);
        assert!(matches!(plan, Plan::Redirect { location } if location == "/d/"));
        assert!(matches!(directory::<()>(Plan::page(400, "x"), &site), Plan::Page { .. }));
    }
}
