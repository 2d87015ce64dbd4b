//! Test vectors written in the documents (PROTOCOL.md, CENTER.md) as annotated hex, read
//! back for the tests that check them byte for byte. Shared by the facade's tests and
//! erpc-center's (which include this file by path).

/// `(name, bytes)` for every `<!-- vector: NAME -->` followed by a fenced hex block.
pub fn vectors(spec: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- vector: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines
            .next()
            .expect("a fenced block after the vector marker");
        assert!(
            fence.starts_with("```"),
            "vector {name}: expected a fence, got {fence:?}"
        );
        let mut bytes = Vec::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            // Hex pairs up to an optional `|` comment.
            let hex = line.split('|').next().unwrap_or("");
            for pair in hex.split_whitespace() {
                bytes.push(
                    u8::from_str_radix(pair, 16)
                        .unwrap_or_else(|_| panic!("vector {name}: {pair:?} is not a hex byte")),
                );
            }
        }
        out.push((name.to_owned(), bytes));
    }
    out
}
