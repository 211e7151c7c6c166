//! `docs/accel-ip.md` and the Rust declarations it documents say the same: its register table row for row,
//! its status codes, its top function.

use std::path::Path;

use m3rt::accel::header::regs_header;
use m3rt::accel::regs::{Kind, REGISTERS};
use m3rt::accel::Status;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/accel-ip.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The first three cells of each table row whose first cell starts with `prefix`, in the section
/// starting with the heading `section`.
fn rows(doc: &str, section: &str, prefix: &str) -> Vec<[String; 3]> {
    let start = doc.find(section).unwrap_or_else(|| panic!("no section {section:?}"));
    let body = &doc[start + section.len()..];
    let end = body.find("\n## ").unwrap_or(body.len());
    body[..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.strip_prefix('|')?.split('|').map(str::trim).collect();
            (cells.len() >= 3 && cells[0].starts_with(prefix))
                .then(|| [cells[0].to_string(), cells[1].to_string(), cells[2].to_string()])
        })
        .collect()
}

#[test]
fn register_table_matches_the_doc() {
    let mut expected = Vec::new();
    for r in REGISTERS {
        let row = |offsets: String, name: String| [offsets, name, r.access.to_string()];
        match r.kind {
            Kind::Block | Kind::ScalarIn => expected.push(row(format!("{:#04X}", r.offset), r.name.into())),
            Kind::Pointer => {
                let hi = r.hi().unwrap();
                expected.push(row(format!("{:#04X}, {hi:#04X}", r.offset), r.name.into()));
            }
            Kind::ScalarOut => {
                expected.push(row(format!("{:#04X}", r.offset), r.name.into()));
                expected.push(row(format!("{:#04X}", r.ctrl().unwrap()), format!("{}_ctrl", r.name)));
            }
        }
    }
    // `{:#04X}` writes `0X1C`; the doc writes `0x1C`.
    for e in &mut expected {
        e[0] = e[0].replace("0X", "0x");
    }
    assert_eq!(rows(&doc(), "## Top function and registers", "0x"), expected);
}

#[test]
fn status_codes_match_the_doc() {
    let expected: Vec<[String; 3]> =
        Status::ALL.iter().map(|s| [(*s as u32).to_string(), s.name().to_string(), s.doc().to_string()]).collect();
    let found = rows(&doc(), "## Status codes", "");
    let found: Vec<[String; 2]> = found.iter().skip(2).map(|r| [r[0].clone(), r[1].clone()]).collect();
    let want: Vec<[String; 2]> = expected.iter().map(|r| [r[0].clone(), r[1].clone()]).collect();
    assert_eq!(found, want);
}

#[test]
fn top_function_matches_the_doc() {
    // The doc's prototype, whitespace collapsed, is the generated header's.
    let doc = doc();
    let start = doc.find("void m3rt_accel(").unwrap();
    let proto = &doc[start..start + doc[start..].find(';').unwrap() + 1];
    let proto = proto.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(regs_header().lines().any(|l| l == proto), "the header has no line {proto:?}");
}
