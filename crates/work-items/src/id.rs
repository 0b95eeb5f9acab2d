//! Item identity: [`Slug`] (a short name from the title) and [`ItemId`]
//! (`YYYYMMDD-HHMMSS-slug`, the creation second in UTC, then the slug), each
//! validated once so a name can never reach the filesystem as `../x`.

use std::fmt;

use time::OffsetDateTime;

use crate::error::{Result, WorkError};

/// Longest slug made from a title.
pub const SLUG_MAX: usize = 48;

/// A slug: `[a-z0-9]` runs joined by single `-`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(String);

impl Slug {
    /// Validates a slug.
    pub fn new(s: &str) -> Result<Slug> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.split('-').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Slug(s.to_owned()))
        } else {
            Err(WorkError::Invalid(format!(
                "slug {s:?} is invalid: use lowercase letters and digits joined by single '-', at most 64 characters"
            )))
        }
    }

    /// A slug from a title: lowercase ASCII letters and digits, every other run of
    /// characters one `-`, cut at a word boundary near [`SLUG_MAX`].
    pub fn from_title(title: &str) -> Result<Slug> {
        let mut out = String::new();
        for c in title.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        while out.len() > SLUG_MAX {
            match out.rfind('-') {
                Some(i) if i > 0 => out.truncate(i),
                _ => out.truncate(SLUG_MAX),
            }
        }
        let out = out.trim_end_matches('-');
        if out.is_empty() {
            return Err(WorkError::Invalid(format!(
                "title {title:?} has no letters or digits to make a slug from"
            )));
        }
        Slug::new(out)
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item id: `YYYYMMDD-HHMMSS-slug`. Sorting ids sorts items by creation time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(String);

impl ItemId {
    /// The id of an item created at `at` (UTC) with `slug`.
    pub fn at(at: OffsetDateTime, slug: &Slug) -> ItemId {
        let t = at.to_offset(time::UtcOffset::UTC);
        ItemId(format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}-{}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            slug
        ))
    }

    /// Validates an id: a real date and time, then a valid slug.
    pub fn new(s: &str) -> Result<ItemId> {
        let bad = || {
            WorkError::Invalid(format!(
                "item id {s:?} is invalid: expected YYYYMMDD-HHMMSS-slug, e.g. 20260102-150405-fix-login"
            ))
        };
        let b = s.as_bytes();
        if b.len() < 17 || b[8] != b'-' || b[15] != b'-' {
            return Err(bad());
        }
        if !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Self::created_at_of(s).ok_or_else(bad)?;
        Slug::new(&s[16..]).map_err(|_| bad())?;
        Ok(ItemId(s.to_owned()))
    }

    fn created_at_of(s: &str) -> Option<OffsetDateTime> {
        let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
        let date = time::Date::from_calendar_date(
            i32::try_from(n(0..4)?).ok()?,
            month,
            u8::try_from(n(6..8)?).ok()?,
        )
        .ok()?;
        let t = time::Time::from_hms(
            u8::try_from(n(9..11)?).ok()?,
            u8::try_from(n(11..13)?).ok()?,
            u8::try_from(n(13..15)?).ok()?,
        )
        .ok()?;
        Some(date.with_time(t).assume_utc())
    }

    /// The creation second the id carries.
    pub fn created_at(&self) -> OffsetDateTime {
        Self::created_at_of(&self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The slug part.
    pub fn slug(&self) -> Slug {
        Slug(self.0[16..].to_owned())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slugs_from_titles() {
        assert_eq!(
            Slug::from_title("Fix the login bug!").unwrap().as_str(),
            "fix-the-login-bug"
        );
        assert_eq!(
            Slug::from_title("  Ünïcode & 42  ").unwrap().as_str(),
            "n-code-42"
        );
        assert!(Slug::from_title("!!!").is_err());
        let long = Slug::from_title(&"word ".repeat(40)).unwrap();
        assert!(long.as_str().len() <= SLUG_MAX && !long.as_str().ends_with('-'));
    }

    #[test]
    fn ids_round_trip_and_reject_nonsense() {
        let at = time::macros::datetime!(2026-01-02 15:04:05 UTC);
        let id = ItemId::at(at, &Slug::new("fix-login").unwrap());
        assert_eq!(id.as_str(), "20260102-150405-fix-login");
        assert_eq!(ItemId::new(id.as_str()).unwrap(), id);
        assert_eq!(id.created_at(), at);
        assert_eq!(id.slug().as_str(), "fix-login");
        for bad in [
            "",
            "../x",
            "20261302-150405-a",
            "20260102-250405-a",
            "20260102-150405-",
            "20260102-150405-A",
            "20260102-150405-a/b",
        ] {
            assert!(ItemId::new(bad).is_err(), "{bad}");
        }
        assert!(Slug::new("a--b").is_err() && Slug::new("-a").is_err() && Slug::new("..").is_err());
    }
}
