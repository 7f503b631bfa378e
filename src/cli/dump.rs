//! `cairn dump`: content goes to stdout as bytes; `--json` does not apply.

use super::args::{Cli, DumpArgs};
use super::{CliError, exit, open};

pub fn run(cli: &Cli, args: &DumpArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let mut out = std::io::stdout().lock();
    match repo.dump(&snapshot, &args.path, &mut out) {
        // The reader went away (`cairn dump ... | head`): not an error.
        Err(cairn::Error::TargetUnwritable { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(exit::OK)
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(exit::OK),
    }
}
