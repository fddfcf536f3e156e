//! One author's rolling window: the posts of the last `window_days` of
//! event time before the newest one, and the follower counts seen. It is
//! the stage's keyed state, stored as compact JSON (short field names,
//! posts as arrays) because the changelog keeps every change.
//!
//! Only integers are stored (similarities in 1/10,000), so a restored
//! window is bit for bit the one that was saved and a restarted run
//! computes the same scores as an uninterrupted one.

use serde::{Deserialize, Serialize};

use super::config::KolConfig;

/// A post as the window keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPost(
    /// Record id (duplicates are recognised by it).
    pub String,
    /// created_at, ms.
    pub i64,
    /// Envelope version: a redelivered post with fresher metrics replaces the older copy.
    pub i64,
    /// likes + comments + shares (None: the post had no metrics).
    pub Option<u64>,
    /// The author's followers when the post was read.
    pub Option<u64>,
    /// Flags, see `FLAG_*`.
    pub u8,
    /// Cosine similarity to each brief × 10,000 (empty: no embedding).
    pub Vec<i16>,
    /// Bit i: brief i's keywords matched.
    pub u64,
);

pub const FLAG_SAFETY_KNOWN: u8 = 1;
pub const FLAG_UNSAFE: u8 = 2;
pub const FLAG_SENTIMENT_KNOWN: u8 = 4;
pub const FLAG_STRONGLY_NEGATIVE: u8 = 8;

impl WindowPost {
    pub fn at(&self) -> i64 {
        self.1
    }
    pub fn interactions(&self) -> Option<u64> {
        self.3
    }
    pub fn followers(&self) -> Option<u64> {
        self.4
    }
    pub fn has(&self, flag: u8) -> bool {
        self.5 & flag != 0
    }
    pub fn similarities(&self) -> &[i16] {
        &self.6
    }
    pub fn keyword_hits(&self) -> u64 {
        self.7
    }
}

/// A follower count at an event time: (ms, followers, following).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Snapshot(pub i64, pub u64, pub Option<u64>);

/// Snapshots kept per author (in time order; the oldest go first).
pub const MAX_SNAPSHOTS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorState {
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Account creation time, ms, when the platform reports it.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub account_created: Option<i64>,
    /// created_at of the newest counted post, ms.
    #[serde(rename = "n", default)]
    pub newest: i64,
    /// computed_at of the last emitted score, ms.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub emitted: Option<i64>,
    /// The window changed since the last emitted score.
    #[serde(rename = "d", default)]
    pub dirty: bool,
    /// Fingerprint of the briefs the similarities were computed against.
    #[serde(rename = "b", default)]
    pub briefs: u64,
    /// In created_at order.
    #[serde(rename = "p", default)]
    pub posts: Vec<WindowPost>,
    #[serde(rename = "s", default)]
    pub snapshots: Vec<Snapshot>,
}

/// What the author's profile said on a post.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub handle: Option<String>,
    pub followers: Option<u64>,
    pub following: Option<u64>,
    pub account_created: Option<i64>,
}

/// Whether a post counted, and why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    Counted,
    /// The same post again, not fresher than the copy in the window.
    Duplicate,
    /// Older than the author's newest post by more than the allowed lateness.
    Late {
        behind_ms: i64,
    },
}

impl AuthorState {
    /// Adds a post (or a fresher copy of one already in the window), moves
    /// the window to the newest post and drops what falls out of it.
    pub fn observe(&mut self, post: WindowPost, profile: Profile, config: &KolConfig) -> Observed {
        if let Some(existing) = self.posts.iter_mut().find(|p| p.0 == post.0) {
            if post.2 <= existing.2 {
                return Observed::Duplicate;
            }
            *existing = post;
            self.posts.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            self.newest = self.newest.max(self.posts.last().map_or(self.newest, |p| p.1));
            self.dirty = true;
            return Observed::Counted;
        }
        let at = post.at();
        let first = self.posts.is_empty() && self.snapshots.is_empty();
        if !first && at < self.newest - config.lateness_ms() {
            return Observed::Late { behind_ms: self.newest - at };
        }
        if first || at >= self.newest {
            self.newest = at;
            if profile.handle.is_some() {
                self.handle = profile.handle;
            }
            if profile.account_created.is_some() {
                self.account_created = profile.account_created;
            }
        }
        if let Some(followers) = profile.followers {
            self.add_snapshot(Snapshot(at, followers, profile.following));
        }
        let index = self.posts.partition_point(|p| (p.1, &p.0) < (at, &post.0));
        self.posts.insert(index, post);
        self.expire(config);
        self.dirty = true;
        Observed::Counted
    }

    /// What a roster says of the author at `at` (ms): its handle when no
    /// newer post gave one, its follower counts as a snapshot. A window with
    /// posts is rescored; an author known only from a roster has no score.
    pub fn observe_roster(&mut self, at: i64, profile: Profile) {
        if profile.handle.is_some() && (self.posts.is_empty() || at >= self.newest) {
            self.handle = profile.handle;
        }
        if let Some(followers) = profile.followers {
            self.add_snapshot(Snapshot(at, followers, profile.following));
            self.dirty |= !self.posts.is_empty();
        }
    }

    /// Records a follower count unless its neighbour in time already says it.
    fn add_snapshot(&mut self, snapshot: Snapshot) {
        let index = self.snapshots.partition_point(|s| s.0 <= snapshot.0);
        let same = |s: &Snapshot| s.1 == snapshot.1 && s.2 == snapshot.2;
        if index > 0 && same(&self.snapshots[index - 1]) {
            return;
        }
        self.snapshots.insert(index, snapshot);
        if self.snapshots.len() > MAX_SNAPSHOTS {
            self.snapshots.remove(0);
        }
    }

    /// Drops posts before the window and the oldest past the per-author
    /// bound; keeps one snapshot from before the window, so a jump into it
    /// is still seen.
    fn expire(&mut self, config: &KolConfig) {
        let start = self.newest - config.window_ms();
        let old = self.posts.partition_point(|p| p.1 < start);
        let over = self.posts.len().saturating_sub(old).saturating_sub(config.max_posts_per_author);
        self.posts.drain(..old + over);
        let before = self.snapshots.partition_point(|s| s.0 < start);
        if before > 1 {
            self.snapshots.drain(..before - 1);
        }
    }

    /// When the author was last active and its newest post, for the idle index.
    pub fn activity(&self) -> super::idle::Activity {
        super::idle::Activity { last: self.last_active(), post: (!self.posts.is_empty()).then_some(self.newest) }
    }

    /// The latest event time the author was seen at: its newest post, or a
    /// later roster row (late posts do not make an author active).
    pub fn last_active(&self) -> i64 {
        self.latest().map_or(self.newest, |s| s.0.max(self.newest))
    }

    /// The follower count of the newest snapshot.
    pub fn latest(&self) -> Option<Snapshot> {
        self.snapshots.last().copied()
    }

    /// Forgets similarities and keyword hits computed against other briefs.
    pub fn use_briefs(&mut self, fingerprint: u64) {
        if self.briefs != fingerprint {
            for post in &mut self.posts {
                post.6.clear();
                post.7 = 0;
            }
            self.briefs = fingerprint;
        }
    }
}
