//! The improper-language detector (R12) measured on the labelled corpus
//! `tests/corpus/regulation.jsonl`: prints a confusion table of the label (none / weak /
//! violation) against the finding, and holds the two bars R12 needs: `counts` agrees with the
//! label `violation` on at least 95 % of the lines, and no benign line (label `none`, or a named
//! trap) is ever counted against its sender.

use hue_intake_adapters::improper::{Finding, assess};
use hue_intake_adapters::keys::Keyed;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

const CORPUS: &str = include_str!("corpus/regulation.jsonl");

fn finding_of(line: &Value) -> Finding {
    let text = line["text"].as_str().expect("text");
    let text: String = if line["form"] == "nfd" { text.nfd().collect() } else { text.to_owned() };
    assess(&Keyed::new(&text))
}

#[test]
fn improper_language_on_the_regulation_corpus() {
    const LABELS: [&str; 3] = ["none", "weak", "violation"];
    let mut table = [[0usize; 3]; 3];
    let mut agree = 0;
    let mut total = 0;
    let mut counted_benign = Vec::new();
    let mut misses = Vec::new();
    for raw in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let line: Value = serde_json::from_str(raw).expect("corpus line is JSON");
        let id = line["id"].as_str().expect("id").to_owned();
        let label = line["improper"].as_str().expect("improper label");
        let row = LABELS.iter().position(|l| *l == label).expect("known label");
        let found = finding_of(&line);
        let col = if found.counts {
            2
        } else if found.review {
            1
        } else {
            0
        };
        table[row][col] += 1;
        total += 1;
        if found.counts == (label == "violation") {
            agree += 1;
        }
        if found.counts && (label == "none" || !line["trap"].is_null()) && label != "violation" {
            counted_benign.push(format!("{id} {:?}", found.rules));
        }
        if row != col {
            misses.push(format!("{id}: label {label}, found {} {:?}", LABELS[col], found.rules));
        }
    }
    println!("improper (R12): rows = label, columns = finding");
    println!("{:>10} {:>6} {:>6} {:>10}", "", "none", "weak", "violation");
    for (label, row) in LABELS.iter().zip(table) {
        println!("{label:>10} {:>6} {:>6} {:>10}", row[0], row[1], row[2]);
    }
    for miss in &misses {
        println!("  {miss}");
    }
    let accuracy = agree as f64 / total as f64;
    println!("counts vs violation: {agree}/{total} = {:.1} %", accuracy * 100.0);
    assert!(total >= 300, "corpus read: {total} lines");
    assert!(accuracy >= 0.95, "accuracy of counts {:.1} % < 95 %", accuracy * 100.0);
    assert!(counted_benign.is_empty(), "benign lines counted as violations: {counted_benign:?}");
}
