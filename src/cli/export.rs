//! `cairn export`: a database's tables as CSV or JSON files.

use cairn::CancelToken;
use cairn::sqlite::tabular::{CsvOptions, TableExportOptions, TableFormat};
use serde_json::json;

use super::args::{Cli, ExportArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &ExportArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let delimiter = u8::try_from(args.delimiter).map_err(|_| cairn::Error::InvalidInput {
        what: "--delimiter".into(),
        reason: "use a single ASCII character".into(),
    })?;
    let format = if args.format == "json" {
        TableFormat::Json
    } else {
        TableFormat::Csv(CsvOptions { delimiter, bom: args.bom, guard_formulas: !args.no_formula_guard })
    };
    let options = TableExportOptions { format, tables: args.tables.clone() };
    let repo = open(cli)?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let report = repo.export_database(&snapshot, &args.db, &args.out, &options, cancel)?;
    for table in &report.tables {
        if cli.json {
            output::json(&json!({
                "message_type": "table",
                "table": table.name,
                "path": table.path.display().to_string(),
                "rows": table.rows,
            }));
        } else if !cli.quiet {
            println!("{}: {} rows -> {}", table.name, table.rows, table.path.display());
        }
    }
    Ok(exit::OK)
}
