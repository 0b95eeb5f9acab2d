//! A byte sink that keeps the head and the tail of a stream and counts what it
//! dropped in between, so capped shell output still shows how a command started
//! and how it ended.

use std::collections::VecDeque;

/// Head + tail capture with a total byte count.
#[derive(Debug)]
pub(crate) struct HeadTail {
    half: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl HeadTail {
    /// Keeps at most `cap` bytes: `cap/2` from the start, the rest from the end.
    pub fn new(cap: usize) -> HeadTail {
        HeadTail {
            half: cap / 2,
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
        }
    }

    pub fn push(&mut self, mut buf: &[u8]) {
        self.total += buf.len() as u64;
        if self.head.len() < self.half {
            let n = (self.half - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
        }
        self.tail.extend(buf);
        let keep = self.half.max(1);
        if self.tail.len() > keep {
            let excess = self.tail.len() - keep;
            self.tail.drain(..excess);
        }
    }

    /// Bytes dropped between head and tail.
    pub fn omitted(&self) -> u64 {
        self.total - self.head.len() as u64 - self.tail.len() as u64
    }

    /// The text, with a marker where bytes were cut.
    pub fn render(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        let omitted = self.omitted();
        if omitted > 0 {
            out.push_str(&format!(
                "\n[... {omitted} bytes omitted: output was {} bytes, capped at {} (head and tail kept); redirect to a file and use grep or read_file to see the rest ...]\n",
                self.total,
                self.half * 2
            ));
        }
        let (a, b) = self.tail.as_slices();
        let mut tail = a.to_vec();
        tail.extend_from_slice(b);
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_counts_the_gap() {
        let mut c = HeadTail::new(10);
        for chunk in [&b"0123"[..], b"456789abcdef", b"XYZ"] {
            c.push(chunk);
        }
        assert_eq!(c.omitted(), 19 - 10);
        let r = c.render();
        assert!(r.starts_with("01234\n[... 9 bytes omitted"), "{r}");
        assert!(r.ends_with("...]\nefXYZ"), "{r}");
        let mut small = HeadTail::new(10);
        small.push(b"abc");
        small.push(b"defg");
        assert_eq!(small.render(), "abcdefg");
    }
}
