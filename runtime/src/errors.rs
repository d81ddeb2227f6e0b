//! One-line error messages: libcontainer's errors nest their causes, and a
//! caller (containerd, a shell) wants them on one line.

use std::error::Error;

pub fn flatten(e: &dyn Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    one_line(&parts.join(": "))
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_chains_fold_into_one_line() {
        let inner = std::io::Error::other("disk\nfull");
        let outer = anyhow::Error::new(inner).context("cannot write");
        let s = flatten(outer.as_ref());
        assert_eq!(s, "cannot write: disk full");
    }
}
