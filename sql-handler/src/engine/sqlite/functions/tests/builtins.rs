//! Every override against SQLite's built-in, on generated and hand-picked input.

use rusqlite::limits::Limit;

use super::{Arg, PIECES, RAW, Rng, compare, lengthen, pair, pattern, text, value};

/// Escape arguments: single characters (one of them a wildcard), and every way to get
/// the error.
fn escape(rng: &mut Rng) -> Arg {
    rng.pick(&[
        text("\\"),
        text("\\"),
        text("%"),
        text("_"),
        text("a"),
        text("é"),
        text(""),
        text("ab"),
        Arg::Null,
        Arg::Blob(b"\xC3".to_vec()),
        Arg::Blob(b"x\x00y".to_vec()),
        Arg::Int(1),
        Arg::Real(0.5),
    ])
}

/// Hand-picked cases the generator may miss.
fn fixed_cases() -> Vec<(&'static str, Vec<Arg>)> {
    let b = |bytes: &[u8]| Arg::Blob(bytes.to_vec());
    vec![
        ("SELECT instr(?1, ?2)", vec![text(""), text("")]),
        ("SELECT instr(?1, ?2)", vec![b(b""), b(b"\x00")]),
        ("SELECT instr(?1, ?2)", vec![b(b"\xC3\xA9a"), b(b"a")]),
        ("SELECT instr(?1, ?2)", vec![text("\u{e9}a"), b(b"a")]),
        (
            "SELECT instr(?1, ?2)",
            vec![b(b"\xC3\xA9"), text("\u{FFFD}")],
        ),
        ("SELECT instr(?1, ?2)", vec![b(b"a\x80b"), b(b"\x80")]),
        (
            "SELECT instr(?1, ?2)",
            vec![Arg::Text(b"a\x80b".to_vec()), b(b"b")],
        ),
        (
            "SELECT instr(?1, ?2)",
            vec![Arg::Text(b"\x80\x80b".to_vec()), text("b")],
        ),
        ("SELECT instr(?1, ?2)", vec![Arg::Real(1e20), text("e")]),
        ("SELECT instr(?1, ?2)", vec![Arg::Int(12300), Arg::Int(0)]),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![text("abc"), text(""), text("x")],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![text("abc"), text(""), Arg::Null],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![text("abc"), b(b"\x00b"), text("x")],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![text("aaaa"), text("aa"), text("b")],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![b(b"a\x00a"), b(b"\x00"), text("b")],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![Arg::Real(-0.0), text("0"), text("1")],
        ),
        (
            "SELECT replace(?1, ?2, ?3)",
            vec![text("xyz"), text("y"), Arg::Int(5)],
        ),
        ("SELECT ?2 LIKE ?1", vec![text("%"), text("")]),
        ("SELECT ?2 LIKE ?1", vec![text("%"), Arg::Null]),
        ("SELECT ?2 LIKE ?1", vec![text("_"), text("é")]),
        ("SELECT ?2 LIKE ?1", vec![text("É"), text("é")]),
        ("SELECT ?2 LIKE ?1", vec![text("A%"), text("ab")]),
        ("SELECT ?2 LIKE ?1", vec![text("%a%b%"), text("xaxbx")]),
        ("SELECT ?2 LIKE ?1", vec![b(b"a\x00zz"), text("a")]),
        ("SELECT ?2 LIKE ?1", vec![text("\u{FFFD}"), b(b"\xC3")]),
        (
            "SELECT ?2 LIKE ?1",
            vec![text("\u{e9}"), b(b"\xE0\x83\xA9")],
        ),
        ("SELECT ?2 LIKE ?1", vec![Arg::Real(1.0), text("1.0")]),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("a\\%"), text("a%"), text("\\")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("a\\"), text("a"), text("\\")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("a%%"), text("a%"), text("%")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("a__"), text("a_"), text("_")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("x"), text("x"), text("ab")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("x"), text("x"), text("")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![text("x"), Arg::Null, text("ab")],
        ),
        (
            "SELECT ?2 LIKE ?1 ESCAPE ?3",
            vec![Arg::Null, text("x"), Arg::Null],
        ),
        (
            "SELECT ?2 NOT LIKE ?1 ESCAPE ?3",
            vec![text("%\\_"), text("a_"), text("\\")],
        ),
        ("SELECT ?2 GLOB ?1", vec![text("[]]"), text("]")]),
        ("SELECT ?2 GLOB ?1", vec![text("[^]]"), text("a")]),
        ("SELECT ?2 GLOB ?1", vec![text("[a-]"), text("-")]),
        ("SELECT ?2 GLOB ?1", vec![text("[]-a]"), text("-")]),
        ("SELECT ?2 GLOB ?1", vec![text("[]-a]"), text("Z")]),
        ("SELECT ?2 GLOB ?1", vec![text("[a-c-e]"), text("d")]),
        ("SELECT ?2 GLOB ?1", vec![text("[z-a]"), text("m")]),
        ("SELECT ?2 GLOB ?1", vec![text("[abc"), text("a")]),
        ("SELECT ?2 GLOB ?1", vec![text("*[abc"), text("a")]),
        ("SELECT ?2 GLOB ?1", vec![text("[^"), text("a")]),
        ("SELECT ?2 GLOB ?1", vec![text("*?"), text("")]),
        ("SELECT ?2 GLOB ?1", vec![text("a*?b"), text("axb")]),
        ("SELECT ?2 GLOB ?1", vec![text("[é-€]"), text("ü")]),
        ("SELECT ?2 GLOB ?1", vec![text("A"), text("a")]),
        ("SELECT trim(?1, ?2)", vec![text("xxaxx"), text("x")]),
        ("SELECT trim(?1, ?2)", vec![text("abc"), text("")]),
        ("SELECT trim(?1, ?2)", vec![text("abc"), Arg::Null]),
        ("SELECT trim(?1, ?2)", vec![Arg::Int(12300), Arg::Int(0)]),
        ("SELECT trim(?1, ?2)", vec![Arg::Real(1e20), text("1e+.0")]),
        (
            "SELECT ltrim(?1, ?2)",
            vec![b(b"\xC3\xA9\xA9x"), b(b"\xC3a\xA9")],
        ),
        (
            "SELECT ltrim(?1, ?2)",
            vec![b(b"\xC3\xA9\xA9x"), b(b"\xC3\xA9a\xA9")],
        ),
        (
            "SELECT rtrim(?1, ?2)",
            vec![b(b"x\xC3\xA9\xA9"), b(b"a\xA9\xC3\xA9\xA9")],
        ),
        (
            "SELECT rtrim(?1, ?2)",
            vec![b(b"x\xC3\xA9\xA9"), b(b"\xC3\xA9\xA9a\xA9")],
        ),
        (
            "SELECT rtrim(?1, ?2)",
            vec![b(b"x\xC3\x80\x80"), b(b"\xC3\x80\x80a\x80")],
        ),
        ("SELECT ltrim(?1, ?2)", vec![b(b"\xC3\xA9\xA9x"), text("é")]),
        ("SELECT rtrim(?1, ?2)", vec![b(b"x\xC3\xA9\xA9"), text("é")]),
        ("SELECT rtrim(?1, ?2)", vec![b(b"x\xA9"), text("aé")]),
        ("SELECT trim(?1, ?2)", vec![text("€a€xé€"), text("€é")]),
        ("SELECT trim(?1, ?2)", vec![b(b"\x00 a \x00"), text(" ")]),
        ("SELECT trim(?1)", vec![b(b"  \xFF  ")]),
        ("SELECT unhex(?1, ?2)", vec![text("ab cd"), text(" ")]),
        ("SELECT unhex(?1, ?2)", vec![text("a bcd"), text(" ")]),
        ("SELECT unhex(?1, ?2)", vec![text("abc"), text(" ")]),
        ("SELECT unhex(?1, ?2)", vec![text(""), text("")]),
        ("SELECT unhex(?1, ?2)", vec![b(b"ab\x00zz"), text("")]),
        ("SELECT unhex(?1, ?2)", vec![b(b"ab\xC3\xA9cd"), text("é")]),
        (
            "SELECT unhex(?1, ?2)",
            vec![b(b"ab\xC3cd"), text("\u{FFFD}")],
        ),
        ("SELECT unhex(?1, ?2)", vec![text("ab-cd"), b(b"\x00-")]),
        ("SELECT unhex(?1, ?2)", vec![Arg::Int(1234), Arg::Null]),
    ]
}

/// Every overridden function and arity, on generated and hand-picked input, gives the
/// built-in's result or error; with low limits too, so that "pattern too complex" and
/// "string or blob too big" come up.
#[test]
fn overrides_agree_with_the_builtins() {
    let normal: &[(Limit, i32)] = &[];
    let low = &[
        (Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 6),
        (Limit::SQLITE_LIMIT_LENGTH, 40),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (round, limits) in [normal, low].into_iter().enumerate() {
        let (plain, over, _clock) = pair(limits);
        if round == 0 {
            for (sql, args) in fixed_cases() {
                compare(&plain, &over, sql, &args);
            }
        }
        let cases = if round == 0 { 4000 } else { 1000 };
        for _ in 0..cases {
            let subject = value(&mut rng, 8);
            let other = value(&mut rng, 4);
            let small = value(&mut rng, 3);
            let like = pattern(&mut rng, &subject, false);
            let glob = pattern(&mut rng, &subject, true);
            let found = match (&subject, rng.below(2)) {
                (Arg::Text(t) | Arg::Blob(t), 0) if !t.is_empty() => {
                    let from = rng.below(t.len());
                    let to = from + rng.below(t.len() - from + 1);
                    Arg::Text(t[from..to].to_vec())
                }
                _ => other.clone(),
            };
            let esc = escape(&mut rng);
            // Long enough for the compiled matcher rather than `direct_match`.
            let long = lengthen(&subject);
            let long_like = pattern(&mut rng, &long, false);
            let long_glob = pattern(&mut rng, &long, true);
            let calls: [(&str, Vec<Arg>); 17] = [
                ("SELECT instr(?1, ?2)", vec![subject.clone(), found.clone()]),
                ("SELECT instr(?1, ?2)", vec![subject.clone(), other.clone()]),
                (
                    "SELECT replace(?1, ?2, ?3)",
                    vec![subject.clone(), found.clone(), other.clone()],
                ),
                ("SELECT like(?1, ?2)", vec![like.clone(), subject.clone()]),
                (
                    "SELECT ?2 LIKE ?1 ESCAPE ?3",
                    vec![like.clone(), subject.clone(), esc],
                ),
                ("SELECT ?2 GLOB ?1", vec![glob.clone(), subject.clone()]),
                ("SELECT like(?1, ?2)", vec![long_like.clone(), long.clone()]),
                (
                    "SELECT like(?1, ?2, ?3)",
                    vec![long_like, long.clone(), escape(&mut rng)],
                ),
                ("SELECT glob(?1, ?2)", vec![long_glob, long]),
                ("SELECT ltrim(?1)", vec![subject.clone()]),
                ("SELECT rtrim(?1)", vec![subject.clone()]),
                ("SELECT trim(?1)", vec![subject.clone()]),
                ("SELECT ltrim(?1, ?2)", vec![subject.clone(), small.clone()]),
                ("SELECT rtrim(?1, ?2)", vec![subject.clone(), small.clone()]),
                ("SELECT trim(?1, ?2)", vec![subject.clone(), found.clone()]),
                (
                    "SELECT unhex(?1, ?2)",
                    vec![hexish(&mut rng), small.clone()],
                ),
                ("SELECT unhex(?1, ?2)", vec![subject.clone(), other.clone()]),
            ];
            for (sql, args) in &calls {
                compare(&plain, &over, sql, args);
            }
        }
    }
}

/// Mostly hex digit pairs, with separators and odd lengths now and then.
fn hexish(rng: &mut Rng) -> Arg {
    let mut out = Vec::new();
    for _ in 0..rng.below(6) {
        match rng.below(6) {
            0 => out.extend_from_slice(rng.pick(RAW)),
            1 => out.extend_from_slice(rng.pick(PIECES).as_bytes()),
            2 => out.push(b'f'),
            _ => out.extend_from_slice(rng.pick(&[&b"0a"[..], b"FF", b"7c", b"e9"])),
        }
    }
    if rng.below(2) == 0 {
        Arg::Text(out)
    } else {
        Arg::Blob(out)
    }
}
