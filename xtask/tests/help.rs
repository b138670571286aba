//! The help the built `cargo xtask` binary prints: every command listed once at the top
//! level, and `COMMAND --help` working (exit 0, its own usage line) for each of them.

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("the xtask binary runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The commands the top-level help lists: its lines indented by exactly two spaces.
fn listed(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn top_level_help_lists_every_command_once() {
    for flag in ["--help", "-h", "help"] {
        let (ok, help) = xtask(&[flag]);
        assert!(ok, "{flag}: {help}");
        let commands = listed(&help);
        for c in ["run", "test", "fuzz", "bench", "gdb", "new", "help"] {
            assert_eq!(commands.iter().filter(|x| *x == c).count(), 1, "{c} in {help}");
        }
        assert!(!help.contains("not available"), "{help}");
    }
}

#[test]
fn every_command_has_working_help() {
    let (_, help) = xtask(&["--help"]);
    for c in listed(&help) {
        for args in [vec![c.as_str(), "--help"], vec![c.as_str(), "-h"], vec!["help", c.as_str()]] {
            let (ok, text) = xtask(&args);
            assert!(ok, "{args:?}: {text}");
            assert!(text.starts_with(&format!("cargo xtask {c}")), "{args:?}: {text}");
        }
        // Every option the top level lists for the command is in the command's own help.
        let (_, own) = xtask(&[&c, "--help"]);
        let block = help.split(&format!("\n  {c} ")).nth(1).unwrap_or("");
        for opt in block.lines().skip(1).take_while(|l| l.starts_with("      ")) {
            let opt = opt.split_whitespace().next().unwrap_or("");
            assert!(own.contains(opt), "`{c} --help` lacks {opt}: {own}");
        }
    }
}

#[test]
fn unknown_commands_and_options_fail_with_a_pointer_to_help() {
    let (ok, text) = xtask(&["nonsense"]);
    assert!(!ok && text.contains("cargo xtask --help"), "{text}");
    let (ok, text) = xtask(&["run", "--nonsense"]);
    assert!(!ok && text.contains("cargo xtask run --help"), "{text}");
}
