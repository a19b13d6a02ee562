//! What the property tests share: their settings (a fixed number of cases and a fixed seed, so
//! a CI run is bounded and repeatable) and generators of hostile text — control characters,
//! the line and paragraph separators, bidirectional controls, the bytes that start a C1
//! control or U+2028 in UTF-8, quotes, backslashes, percent escapes, URL user-info and long
//! runs near the size caps.
//!
//! Self-contained (proptest and std only): the `actionlog` command's unit tests include this
//! file too.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// The seed every property runs with unless `PROPTEST_RNG_SEED` is set.
const SEED: u64 = 0x6163_7469_6f6e_6c6f;

/// A property's settings: `cases` cases (unless `PROPTEST_CASES` asks for another number, for a
/// longer run by hand), the fixed [`SEED`] (unless `PROPTEST_RNG_SEED` names one) with proptest's
/// ChaCha generator, whose sequence for a seed is the same on every machine; no
/// `proptest-regressions` files: a case a property found is kept as a named unit test instead.
pub(crate) fn config(cases: u32) -> Config {
    let env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            env.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        rng_algorithm: RngAlgorithm::ChaCha,
        failure_persistence: None,
        ..env
    }
}

/// One character a terminal, an editor or a parser may act on, or ordinary text around it.
pub(crate) fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\0', '\u{1f}'),
        1 => Just('\u{7f}'),
        2 => proptest::char::range('\u{80}', '\u{9f}'),
        // 0xC2 and 0xE2 lead bytes that are ordinary text (£, ©, €, …, ✓).
        1 => prop::sample::select(vec!['£', '©', '\u{a0}', '€', '…', '✓', '\u{2027}', '\u{202f}']),
        2 => prop::sample::select(vec![
            '\u{2028}', '\u{2029}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
            '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
            '\u{200b}', '\u{200d}', '\u{fe0f}', '\u{301}', '\u{85}',
        ]),
        2 => prop::sample::select(vec!['"', '\\', '\'', '.', ':', '@', '/', '%', '+', '&', '=', '~', '!', '?', '#', ';', ' ']),
        1 => prop::sample::select(vec!['é', '日', 'ل', 'ا', '🦀', '❤', '👨', '\u{1f1e6}', '\u{10ffff}']),
        1 => any::<char>(),
    ]
}

/// Pieces whose meaning spans several characters: escapes, URL user-info, percent escapes.
fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\u{1b}[2J",
            "\u{1b}]0;title\u{7}",
            "\u{1b}]52;c;Zm9v\u{7}",
            "\u{9b}31m",
            "\r\n",
            "://",
            "postgres://app:s3cret@db:5432/prod",
            "https://u:p@h/?a=b@c",
            "%",
            "%2",
            "%41",
            "%e2%80%a8",
            "%C2%9B",
            "%zz",
            "+",
            "\\u{1b}",
            "\\n",
            "[REDACTED]",
            "\"\"",
            "details.",
            "metadata.",
            "!=",
            "~",
            "=",
            "&",
            "T00:00:00Z",
        ])
        .prop_map(str::to_owned),
        hostile_char().prop_map(String::from),
    ]
}

/// Text of up to `max` pieces: single hostile characters mixed with multi-character ones.
pub(crate) fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![3 => hostile_char().prop_map(String::from), 1 => hostile_piece()],
        0..=max,
    )
    .prop_map(|v| v.concat())
}

/// Text `len` bytes long give or take a few (a run of one character, which may be multi-byte,
/// ending in hostile text): for the size caps, where cuts must fall on character boundaries.
pub(crate) fn text_near(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    (
        len,
        prop::sample::select(vec!['x', 'é', '€', '🦀', '\u{9b}', '\n', '"']),
        hostile_text(4),
    )
        .prop_map(|(n, c, tail)| {
            let mut s: String = std::iter::repeat_n(c, n / c.len_utf8()).collect();
            s.push_str(&tail);
            s
        })
}
