//! `cargo xtask run` for systems of programs: the input a script on stdin becomes, and the
//! report of which programs of a `--app A --app B` run ended badly.
//!
//! A script reaches the shell through the guest's serial port, typed line by line: each
//! line once the shell has shown the previous one as `> LINE` (so the console server's
//! input buffer never holds more than a line), and after the last the end-of-input byte
//! [`abi::report::SCRIPT_END`], since a serial line has no end of file.

use abi::report::{parse_program_status, SCRIPT_END, SCRIPT_READY};

/// What to type for `script`: (text the console must show first, bytes to type).
pub fn script_typing(script: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut trigger = SCRIPT_READY.to_string();
    for line in script.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\r');
        out.push((trigger, bytes));
        trigger = format!("> {line}");
    }
    out.push((trigger, vec![SCRIPT_END]));
    out
}

/// The programs a run's console says ended with a non-zero status, with it.
pub fn failed_programs(lines: &[String]) -> Vec<(String, i32)> {
    lines.iter().filter_map(|l| parse_program_status(l)).map(|(n, s)| (n.to_string(), s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_typed_line_by_line_after_each_echo() {
        let t = script_typing("echo hi\r\n\nls\n");
        assert_eq!(
            t,
            [
                (SCRIPT_READY.to_string(), b"echo hi\r".to_vec()),
                ("> echo hi".to_string(), b"ls\r".to_vec()),
                ("> ls".to_string(), vec![SCRIPT_END]),
            ]
        );
        assert_eq!(script_typing(""), [(SCRIPT_READY.to_string(), vec![SCRIPT_END])], "no input: just the end");
    }

    #[test]
    fn failed_programs_are_read_from_inits_lines() {
        let lines: Vec<String> = [
            "hello",
            "moroso: program b ended with status 3",
            "moroso: program c ended with status -101 (the program panicked)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(failed_programs(&lines), [("b".to_string(), 3), ("c".to_string(), -101)]);
    }
}
