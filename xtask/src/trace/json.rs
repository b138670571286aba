//! The trace as a Trace Event Format document (the JSON that Perfetto and chrome://tracing
//! open).
//!
//! - Each task is a process (`pid` = task id) and each thread a track (`tid`), named
//!   `program/tid`; the idle CPU is a track of its own (pid 0).
//! - `running` slices show who had the CPU, from one `Run`/`Idle` record to the next.
//! - Sends, receives and replies are slices one instruction long, nested in the running
//!   slice when the thread itself made them; blocking and waking are instant events.
//! - A flow (Trace Event Format "s"/"t"/"f" events, id = the kernel's message number)
//!   joins each message's send, receive and reply, so the viewers draw arrows.
//! - Time: the guest's instruction count since the first record, written as 1 instruction
//!   = 1 ns (`ts` is in microseconds), which is exact under `-icount shift=0`.

use super::{describe, Trace};
use abi::trace::{Kind, Record, RECV_INTERRUPT};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The pid and tid of the idle CPU's track.
const IDLE: u32 = 0;

/// Microseconds (the format's unit) from a record time.
fn ts(trace: &Trace, time: u64) -> f64 {
    time.saturating_sub(trace.start()) as f64 / 1000.0
}

/// One instruction, in microseconds: how long an IPC slice lasts.
const ONE: f64 = 0.001;

pub fn document(trace: &Trace) -> Value {
    let mut events = Vec::new();
    metadata(trace, &mut events);
    running(trace, &mut events);
    for r in &trace.records {
        if let Some(e) = event(trace, r) {
            events.push(e);
        }
    }
    flows(trace, &mut events);
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "source": "cargo xtask trace (Moroso)",
            "clock": "guest instructions under -icount shift=0, shown as 1 instruction = 1 ns",
            "ring_capacity": trace.capacity,
            "records": trace.records.len(),
            "dropped_oldest": trace.dropped,
        },
    })
}

/// Names for every process and track.
fn metadata(trace: &Trace, out: &mut Vec<Value>) {
    let meta = |name: &str, pid: u32, tid: u32, value: Value| json!({ "ph": "M", "name": name, "pid": pid, "tid": tid, "args": value });
    out.push(meta("process_name", IDLE, IDLE, json!({ "name": "kernel" })));
    out.push(meta("thread_name", IDLE, IDLE, json!({ "name": "idle" })));
    let mut tasks: Vec<u32> = trace.threads().iter().map(|&(task, _)| task).collect();
    tasks.dedup();
    for task in tasks {
        out.push(meta("process_name", task, 0, json!({ "name": format!("{} (task {task})", trace.task_name(task)) })));
        out.push(meta("process_sort_index", task, 0, json!({ "sort_index": task })));
    }
    for (task, tid) in trace.threads() {
        out.push(meta("thread_name", task, tid, json!({ "name": trace.thread_label(tid) })));
        out.push(meta("thread_sort_index", task, tid, json!({ "sort_index": tid })));
    }
}

/// `running` (and `idle`) slices from the scheduling records.
fn running(trace: &Trace, out: &mut Vec<Value>) {
    let mut on_cpu: Option<(u32, u32, u64)> = None; // (task, tid, since)
    let close = |on: Option<(u32, u32, u64)>, until: u64, out: &mut Vec<Value>| {
        if let Some((task, tid, since)) = on {
            let name = if tid == IDLE { "idle" } else { "running" };
            out.push(json!({
                "ph": "X", "cat": "sched", "name": name, "pid": task, "tid": tid,
                "ts": ts(trace, since), "dur": until.saturating_sub(since) as f64 / 1000.0,
            }));
        }
    };
    for r in &trace.records {
        match r.kind() {
            Some(Kind::Run) => close(on_cpu.replace((r.task, r.tid, r.time)), r.time, out),
            Some(Kind::Idle) => close(on_cpu.replace((IDLE, IDLE, r.time)), r.time, out),
            _ => {}
        }
    }
    let end = trace.records.last().map_or(0, |r| r.time);
    close(on_cpu, end, out);
}

/// The event for one IPC, block or wake record.
fn event(trace: &Trace, r: &Record) -> Option<Value> {
    let name = describe(trace, r);
    let (pid, tid, t) = (r.task, r.tid, ts(trace, r.time));
    Some(match r.kind()? {
        Kind::Send | Kind::Recv | Kind::Reply => json!({
            "ph": "X", "cat": "ipc", "name": name, "pid": pid, "tid": tid, "ts": t, "dur": ONE,
            "args": { "message": r.value, "peer": trace.thread_label(r.peer) },
        }),
        Kind::Block | Kind::Wake => json!({
            "ph": "i", "s": "t", "cat": "sched", "name": name, "pid": pid, "tid": tid, "ts": t,
        }),
        Kind::Run | Kind::Idle => return None,
    })
}

/// One flow per message: its send, receive and reply, in that order; bound to the IPC
/// slices at the same place and time ("bp": "e": the enclosing slice).
fn flows(trace: &Trace, out: &mut Vec<Value>) {
    let mut by_message: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    for r in &trace.records {
        let ipc = matches!(r.kind(), Some(Kind::Send | Kind::Reply))
            || (r.kind() == Some(Kind::Recv) && r.detail != RECV_INTERRUPT);
        if ipc {
            by_message.entry(r.value).or_default().push(r);
        }
    }
    for (id, steps) in by_message {
        if steps.len() < 2 {
            continue; // a send nobody received (yet, or ever): nothing to join
        }
        for (i, r) in steps.iter().enumerate() {
            let ph = match i {
                0 => "s",
                i if i + 1 == steps.len() => "f",
                _ => "t",
            };
            out.push(json!({
                "ph": ph, "bp": "e", "cat": "ipc", "name": "message", "id": id,
                "pid": r.task, "tid": r.tid, "ts": ts(trace, r.time),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    fn events() -> Vec<Value> {
        // Through the text, as a viewer reads it.
        let text = serde_json::to_string(&document(&sample::client_server())).unwrap();
        let doc: Value = serde_json::from_str(&text).expect("valid JSON");
        doc["traceEvents"].as_array().expect("a traceEvents array").clone()
    }

    fn with_ph<'a>(events: &'a [Value], ph: &str) -> Vec<&'a Value> {
        events.iter().filter(|e| e["ph"] == ph).collect()
    }

    #[test]
    fn every_event_has_the_fields_the_format_requires() {
        for e in events() {
            assert!(e["ph"].is_string() && e["name"].is_string(), "{e}");
            assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
            if e["ph"] != "M" {
                assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
            }
            if e["ph"] == "X" {
                assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
            }
            // Whole instructions: at most three decimals of a microsecond, no float noise.
            for field in ["ts", "dur"] {
                let text = e[field].to_string();
                assert!(text.split('.').nth(1).is_none_or(|f| f.len() <= 3), "{field} {text} in {e}");
            }
        }
    }

    #[test]
    fn each_thread_is_a_named_track() {
        let events = events();
        let names: Vec<(u64, String)> = with_ph(&events, "M")
            .into_iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(names, [(0, "idle".to_string()), (1, "client/1".to_string()), (2, "server/2".to_string())]);
    }

    #[test]
    fn flows_pair_up_from_send_to_receive_to_reply() {
        let events = events();
        let mut flows: BTreeMap<u64, Vec<(String, u64, f64)>> = BTreeMap::new();
        for e in events.iter().filter(|e| ["s", "t", "f"].contains(&e["ph"].as_str().unwrap())) {
            let step = (e["ph"].as_str().unwrap().to_string(), e["tid"].as_u64().unwrap(), e["ts"].as_f64().unwrap());
            flows.entry(e["id"].as_u64().unwrap()).or_default().push(step);
        }
        // Message 1: sent by 1, received by 2, replied by 2; message 2 likewise. Message 3
        // (asynchronous, never received in the sample) makes no flow.
        let shape = |f: &Vec<(String, u64, f64)>| f.iter().map(|(ph, tid, _)| (ph.clone(), *tid)).collect::<Vec<_>>();
        let want = vec![("s".to_string(), 1), ("t".to_string(), 2), ("f".to_string(), 2)];
        assert_eq!(flows.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(shape(&flows[&1]), want);
        assert_eq!(shape(&flows[&2]), want);
        // Every flow step sits on an IPC slice of its thread at its time, which it binds to.
        for step in flows.values().flatten() {
            let bound = with_ph(&events, "X")
                .iter()
                .any(|x| x["cat"] == "ipc" && x["tid"].as_u64() == Some(step.1) && x["ts"].as_f64() == Some(step.2));
            assert!(bound, "flow step {step:?} has no slice to bind to");
        }
    }

    #[test]
    fn running_slices_follow_the_scheduler_and_do_not_overlap() {
        let events = events();
        let mut slices: Vec<(f64, f64, u64)> = with_ph(&events, "X")
            .into_iter()
            .filter(|e| e["cat"] == "sched")
            .map(|e| (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap(), e["tid"].as_u64().unwrap()))
            .collect();
        slices.sort_by(|a, b| a.0.total_cmp(&b.0));
        let who: Vec<u64> = slices.iter().map(|s| s.2).collect();
        assert_eq!(who, [2, 0, 1, 2, 1, 2, 1]);
        for w in slices.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0 + 1e-9, "{w:?} overlap");
        }
        // The first record is time 0; one instruction is a nanosecond.
        assert_eq!(slices[0].0, 0.0);
        assert_eq!(slices[1].0, 0.15);
    }

    #[test]
    fn ipc_events_carry_thread_and_task_ids_and_words() {
        let events = events();
        let send = with_ph(&events, "X").into_iter().find(|e| e["name"] == "call #1 to server/2").expect("the send");
        assert_eq!(
            (send["pid"].as_u64(), send["tid"].as_u64(), send["args"]["message"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
        let names: Vec<&str> = with_ph(&events, "i").iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"waiting for reply (server/2)"), "{names:?}");
        assert!(names.contains(&"receiving"), "{names:?}");
        assert!(with_ph(&events, "X").iter().any(|e| e["name"] == "interrupt (IRQ 4)"));
    }
}
