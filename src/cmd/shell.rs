//! `vecar completions` and `vecar man`: what shells and `man` need, made from the command line
//! definition itself.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap_complete::Shell;

use vecar::output;

/// Arguments of `vecar completions`.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  vecar completions bash > ~/.local/share/bash-completion/completions/vecar
  vecar completions zsh > ~/.zfunc/_vecar        # with fpath+=(~/.zfunc) in ~/.zshrc
  vecar completions fish > ~/.config/fish/completions/vecar.fish")]
pub struct CompletionArgs {
    /// The shell.
    shell: Shell,
}

/// Runs `vecar completions`: the script for `args.shell`, on stdout.
pub fn completions(args: CompletionArgs, mut command: clap::Command) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vecar", &mut script);
    write_out(&script)
}

/// Runs `vecar man`: the manual page of `command` (options, commands, examples), in roff, on
/// stdout.
pub fn man(command: clap::Command) -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    write_out(&page)
}

fn write_out(bytes: &[u8]) -> Result<ExitCode> {
    let mut out = output::stdout();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}
