//! The command line: one table of commands, each with its own help, and the dispatch.
//!
//! Every command is a [`Command`] value: its name, a one-line summary, its options (each
//! once, with what it does), a paragraph of explanation and the function that runs it.
//! `cargo xtask --help` and `cargo xtask CMD --help` are generated from these values, so the
//! help cannot list a command or an option twice or forget one. Adding a command is one
//! module that defines a `Command` and one line in the table in `main.rs`.

use std::process::ExitCode;

/// One `cargo xtask` command.
pub struct Command {
    /// What follows `cargo xtask`.
    pub name: &'static str,
    /// What follows the name in the usage line (`[--app PATH] ...`), empty if nothing.
    pub args: &'static str,
    /// One line for the list of commands.
    pub summary: &'static str,
    /// Every option, once: (spelling with its value, what it does).
    pub options: &'static [(&'static str, &'static str)],
    /// A few lines for `cargo xtask CMD --help`: what the command does, what it installs or
    /// builds, how it ends (a function, so a text can list what exists, e.g. test steps).
    pub about: fn() -> String,
    /// Runs the command with the arguments after its name (never `--help`).
    pub run: fn(&[String]) -> Result<ExitCode, String>,
}

/// Column where summaries and option texts start.
const WIDTH: usize = 24;

fn row(out: &mut String, indent: usize, left: &str, text: &str) {
    let pad = " ".repeat(indent);
    if left.len() + indent + 1 < WIDTH {
        out.push_str(&format!("{pad}{left:<w$}{text}\n", w = WIDTH - indent));
    } else {
        out.push_str(&format!("{pad}{left}\n{}{text}\n", " ".repeat(WIDTH)));
    }
}

/// `cargo xtask --help`: every command with its options.
pub fn usage(commands: &[Command]) -> String {
    let mut out = String::from("usage: cargo xtask <command> [options]\n\ncommands:\n");
    for c in commands {
        row(&mut out, 2, c.name, c.summary);
        for (opt, what) in c.options {
            row(&mut out, 6, opt, what);
        }
    }
    out.push_str("\n`cargo xtask <command> --help` explains one command.\n");
    out
}

/// `cargo xtask CMD --help`.
pub fn command_help(c: &Command) -> String {
    let mut out =
        format!("cargo xtask {}{}{}\n\n{}\n", c.name, if c.args.is_empty() { "" } else { " " }, c.args, c.summary);
    let about = (c.about)();
    if !about.is_empty() {
        out.push('\n');
        out.push_str(about.trim_end());
        out.push('\n');
    }
    if !c.options.is_empty() {
        out.push_str("\noptions:\n");
        for (opt, what) in c.options {
            row(&mut out, 2, opt, what);
        }
    }
    out
}

fn is_help(a: &str) -> bool {
    matches!(a, "--help" | "-h")
}

/// Runs the command `args` names (the arguments after `cargo xtask`). Help is printed here,
/// for every command alike: `--help` or `-h` anywhere after a command's name is its help.
pub fn dispatch(commands: &[Command], args: &[String]) -> Result<ExitCode, String> {
    let Some(first) = args.first() else {
        return Err(format!("no command given\n\n{}", usage(commands)));
    };
    if is_help(first) || first == "help" {
        return match args.get(1) {
            None => {
                print!("{}", usage(commands));
                Ok(ExitCode::SUCCESS)
            }
            Some(name) => {
                // `help --help` is the help command's own help.
                let c = find(commands, if is_help(name) { "help" } else { name })?;
                print!("{}", command_help(c));
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let c = find(commands, first)?;
    if args[1..].iter().any(|a| is_help(a)) {
        print!("{}", command_help(c));
        return Ok(ExitCode::SUCCESS);
    }
    (c.run)(&args[1..])
}

fn find<'a>(commands: &'a [Command], name: &str) -> Result<&'a Command, String> {
    commands.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = commands.iter().map(|c| c.name).collect();
        format!("unknown command {name:?} (commands: {}; `cargo xtask --help` lists them)", names.join(", "))
    })
}

/// The `help` command's own entry, so it is listed like the others.
pub const HELP: Command = Command {
    name: "help",
    args: "[COMMAND]",
    summary: "this text, or one command's help (same as `cargo xtask COMMAND --help`)",
    options: &[],
    about: String::new,
    // `dispatch` answers `help` itself; this is reached only if someone calls it directly.
    run: |_| Ok(ExitCode::SUCCESS),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// A command that fails if it is ever run, to show that `--help` never runs it.
    const NEVER: Command = Command {
        name: "never",
        args: "[--x N]",
        summary: "must not run on --help",
        options: &[("--x N", "an option"), ("--a-rather-long-option VALUE", "wraps to the next line")],
        about: || "Explains itself.".into(),
        run: |_| Err("ran".into()),
    };

    #[test]
    fn help_never_runs_the_command() {
        for a in [
            &["never", "--help"][..],
            &["never", "--x", "1", "-h"],
            &["help", "never"],
            &["--help", "never"],
            &["help", "-h"],
        ] {
            assert!(dispatch(&[NEVER, HELP], &args(a)).is_ok(), "{a:?}");
        }
        assert_eq!(dispatch(&[NEVER], &args(&["never"])).unwrap_err(), "ran");
        assert!(dispatch(&[NEVER], &args(&["nope"])).unwrap_err().contains("commands: never"));
        assert!(dispatch(&[NEVER], &args(&[])).is_err());
    }

    #[test]
    fn help_texts_list_every_option_once() {
        let top = usage(&[NEVER, HELP]);
        let one = command_help(&NEVER);
        for (opt, what) in NEVER.options {
            assert_eq!(top.matches(opt).count(), 1, "{top}");
            assert_eq!(one.matches(what).count(), 1, "{one}");
        }
        assert!(one.starts_with("cargo xtask never [--x N]\n") && one.contains("Explains itself."), "{one}");
        assert!(top.contains("\n  help "), "{top}");
    }
}
