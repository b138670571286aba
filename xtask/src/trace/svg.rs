//! The trace as an SVG sequence diagram: one lifeline per thread (labelled `program/tid`
//! and its task), one row per IPC, block or wake record in order, time (instructions
//! since the first record) down the left. Messages are solid arrows from the sender's
//! row to the receiver's, replies dashed arrows back to the caller where it wakes; a bar on
//! a lifeline shows the thread holding the CPU. Only the first `max` rows are drawn (a
//! diagram of thousands of rows helps nobody), and the diagram says so; the JSON has all.

use super::{describe, Trace};
use abi::trace::{Kind, Record, RECV_INTERRUPT};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Rows drawn by `cargo xtask trace`.
pub const MAX_EVENTS: usize = 150;

const COL_W: usize = 170;
const ROW_H: usize = 22;
/// Left of the first lifeline (the time column is to its left).
const X0: usize = 110;
/// Top of the first row.
const TOP: usize = 110;

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => out.push(' '), // not allowed in XML 1.0 text
            c => out.push(c),
        }
    }
    out
}

fn is_row(r: &Record) -> bool {
    matches!(r.kind(), Some(Kind::Send | Kind::Recv | Kind::Reply | Kind::Block | Kind::Wake))
}

fn is_message_recv(r: &Record) -> bool {
    r.kind() == Some(Kind::Recv) && r.detail != RECV_INTERRUPT
}

/// The diagram of the first `max` rows of `trace`.
pub fn document(trace: &Trace, max: usize) -> String {
    let all_rows: Vec<&Record> = trace.records.iter().filter(|r| is_row(r)).collect();
    let rows = &all_rows[..all_rows.len().min(max)];
    let interrupts = rows.iter().any(|r| r.kind() == Some(Kind::Recv) && r.detail == RECV_INTERRUPT);
    let mut columns: Vec<u32> = Vec::new();
    if interrupts {
        columns.push(abi::ipc::KERNEL_TID);
    }
    columns.extend(trace.threads().into_iter().map(|(_, tid)| tid));
    let col: BTreeMap<u32, usize> = columns.iter().enumerate().map(|(i, &tid)| (tid, i)).collect();
    let x = |tid: u32| col.get(&tid).map(|&i| X0 + i * COL_W + COL_W / 2);
    let y = |row: usize| TOP + row * ROW_H + ROW_H / 2;
    let width = X0 + columns.len().max(1) * COL_W + 20;
    let height = TOP + rows.len() * ROW_H + 30;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">
<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<style>.msg{{stroke:#1f5fbf;stroke-width:1.4}} .reply{{stroke:#2e8b57;stroke-width:1.4;stroke-dasharray:5 3}} .irq{{stroke:#b8860b;stroke-width:1.4}} .life{{stroke:#999;stroke-dasharray:3 3}} .note{{fill:#666;font-style:italic}} .run{{fill:#cfe0f7;stroke:#7aa3d6}}</style>
<rect width="100%" height="100%" fill="white"/>
"##
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Moroso IPC trace: {} of {} events drawn</text>"#,
        rows.len(),
        all_rows.len()
    );
    let mut notes = vec!["time: guest instructions since the first record; bars: the thread has the CPU".to_string()];
    if all_rows.len() > rows.len() {
        notes.push(format!(
            "showing the first {} of {} events (sends, receives, replies, blocks, wakes); trace.json has them all",
            rows.len(),
            all_rows.len()
        ));
    }
    if trace.dropped > 0 {
        notes.push(format!(
            "the kernel's ring (capacity {}) overwrote the {} oldest records",
            trace.capacity, trace.dropped
        ));
    }
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(s, r#"<text x="10" y="{}" class="note">{}</text>"#, 36 + 14 * i, esc(n));
    }

    // Lifelines and their heads.
    let bottom = TOP + rows.len() * ROW_H + 10;
    for &tid in &columns {
        let Some(cx) = x(tid) else { continue };
        let (label, sub) = match trace.records.iter().find(|r| r.tid == tid && tid != 0) {
            Some(r) => (trace.thread_label(tid), format!("task {}", r.task)),
            None => ("kernel".to_string(), "interrupts".to_string()),
        };
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="34" rx="4" fill="#f4f4f4" stroke="#555"/><text x="{cx}" y="{}" text-anchor="middle" font-weight="bold">{}</text><text x="{cx}" y="{}" text-anchor="middle" class="note">{}</text><line x1="{cx}" y1="{}" x2="{cx}" y2="{bottom}" class="life"/>"##,
            cx - COL_W / 2 + 8,
            TOP - 44,
            COL_W - 16,
            TOP - 29,
            esc(&label),
            TOP - 16,
            esc(&sub),
            TOP - 10,
        );
    }

    // Who had the CPU: bars between the rows around each Run/Idle record.
    let last_time = rows.last().map_or(0, |r| r.time);
    let rows_before = |t: u64| rows.iter().take_while(|r| r.time < t).count();
    let mut on_cpu: Option<(u32, u64)> = None;
    let bar = |on: Option<(u32, u64)>, until: u64, s: &mut String| {
        let Some((tid, since)) = on else { return };
        let Some(cx) = x(tid) else { return };
        let (top, end) = (TOP + rows_before(since) * ROW_H, TOP + rows_before(until) * ROW_H);
        if end > top {
            let _ = writeln!(s, r#"<rect x="{}" y="{top}" width="10" height="{}" class="run"/>"#, cx - 5, end - top);
        }
    };
    for r in trace.records.iter().take_while(|r| r.time <= last_time) {
        match r.kind() {
            Some(Kind::Run) => bar(on_cpu.replace((r.tid, r.time)), r.time, &mut s),
            Some(Kind::Idle) => bar(on_cpu.take(), r.time, &mut s),
            _ => {}
        }
    }
    bar(on_cpu, last_time + 1, &mut s);

    // The rows.
    let row_of_recv: BTreeMap<u64, usize> =
        rows.iter().enumerate().filter(|(_, r)| is_message_recv(r)).map(|(i, r)| (r.value, i)).collect();
    let sent_drawn: BTreeMap<u64, usize> =
        rows.iter().enumerate().filter(|(_, r)| r.kind() == Some(Kind::Send)).map(|(i, r)| (r.value, i)).collect();
    // Where each reply's arrow ends: the caller's next wake (if drawn), else its own row.
    let reply_target = |i: usize, r: &Record| {
        rows.iter()
            .enumerate()
            .skip(i + 1)
            .find(|(_, w)| w.kind() == Some(Kind::Wake) && w.tid == r.peer)
            .map_or(i, |(j, _)| j)
    };
    let reply_ends: std::collections::BTreeSet<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind() == Some(Kind::Reply))
        .map(|(i, r)| reply_target(i, r))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        let yi = y(i);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" class="note">+{}</text>"#,
            X0 - 8,
            yi + 4,
            r.time.saturating_sub(trace.start())
        );
        let Some(xi) = x(r.tid) else { continue };
        let words = esc(&describe(trace, r));
        match r.kind() {
            Some(Kind::Send) => match (row_of_recv.get(&r.value), x(r.peer)) {
                (Some(&j), Some(xr)) => {
                    arrow(&mut s, "msg", (xi, yi), (xr, y(j)));
                    label(&mut s, xi, xr, yi, &words);
                }
                _ => {
                    // Not received within the drawing: a stub towards the receiver.
                    let dir = if x(r.peer).unwrap_or(xi + 1) >= xi { 1 } else { -1 };
                    let end = (xi as i64 + dir * 40) as usize;
                    arrow(&mut s, "msg", (xi, yi), (end, yi));
                    label(&mut s, xi, end, yi, &format!("{words} (not received here)"));
                }
            },
            Some(Kind::Recv) if r.detail == RECV_INTERRUPT => {
                if let Some(xk) = x(abi::ipc::KERNEL_TID) {
                    arrow(&mut s, "irq", (xk, yi), (xi, yi));
                    label(&mut s, xk, xi, yi, &words);
                }
            }
            Some(Kind::Recv) if sent_drawn.contains_key(&r.value) => {
                let _ = writeln!(s, r##"<circle cx="{xi}" cy="{yi}" r="3" fill="#1f5fbf"/>"##);
            }
            Some(Kind::Reply) => {
                // To the caller, where it wakes with the reply (if drawn), else straight across.
                if let Some(xc) = x(r.peer) {
                    arrow(&mut s, "reply", (xi, yi), (xc, y(reply_target(i, r))));
                    label(&mut s, xi, xc, yi, &words);
                }
            }
            Some(Kind::Wake) if reply_ends.contains(&i) => {} // the reply's arrow says it
            _ => {
                // Block, wake, or a receive whose send is not drawn: words by the lifeline.
                let _ = writeln!(s, r##"<circle cx="{xi}" cy="{yi}" r="2.5" fill="#666"/>"##);
                let _ = writeln!(s, r#"<text x="{}" y="{}" class="note">{words}</text>"#, xi + 8, yi + 4);
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn arrow(s: &mut String, class: &str, from: (usize, usize), to: (usize, usize)) {
    let _ = writeln!(
        s,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="{class}" marker-end="url(#head)"/>"#,
        from.0, from.1, to.0, to.1
    );
}

/// Words above an arrow from `x1` to `x2`, starting near its tail.
fn label(s: &mut String, x1: usize, x2: usize, y: usize, words: &str) {
    let (x, anchor) = if x2 >= x1 { (x1 + 6, "start") } else { (x1 - 6, "end") };
    let _ = writeln!(s, r#"<text x="{x}" y="{}" text-anchor="{anchor}">{words}</text>"#, y - 4);
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).expect("well-formed XML")
    }

    fn lines_of_class<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> usize {
        doc.descendants().filter(|n| n.has_tag_name("line") && n.attribute("class") == Some(class)).count()
    }

    #[test]
    fn the_diagram_is_well_formed_svg_with_a_lifeline_per_thread() {
        let svg = document(&sample::client_server(), MAX_EVENTS);
        let doc = parse(&svg);
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert_eq!(doc.root_element().tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
        // Kernel (the sample has an interrupt), client, server.
        assert_eq!(lines_of_class(&doc, "life"), 3);
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        for want in ["client/1", "server/2", "task 2", "Moroso IPC trace: 14 of 14 events drawn"] {
            assert!(texts.contains(&want), "no text {want:?} in {texts:?}");
        }
    }

    #[test]
    fn messages_and_replies_are_arrows() {
        let doc_text = document(&sample::client_server(), MAX_EVENTS);
        let doc = parse(&doc_text);
        // Two calls received and one asynchronous send not received (a stub).
        assert_eq!(lines_of_class(&doc, "msg"), 3);
        assert_eq!(lines_of_class(&doc, "reply"), 2);
        assert_eq!(lines_of_class(&doc, "irq"), 1);
    }

    #[test]
    fn a_capped_diagram_says_so() {
        let svg = document(&sample::client_server(), 4);
        let doc = parse(&svg);
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"Moroso IPC trace: 4 of 14 events drawn"), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("showing the first 4 of 14 events")), "{texts:?}");
    }

    #[test]
    fn names_are_escaped() {
        let mut t = sample::client_server();
        t.names.insert(1, "a<b>&\"c'".to_string());
        t.dropped = 7;
        let svg = document(&t, MAX_EVENTS);
        let doc = parse(&svg);
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"a<b>&\"c'/1"), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("overwrote the 7 oldest")), "{texts:?}");
    }

    #[test]
    fn an_empty_trace_is_still_a_diagram() {
        let t = Trace::default();
        parse(&document(&t, MAX_EVENTS));
    }
}
