"""Where a full make bench writes its tables and targets into the README (report.into_readme),
and where the docs site's benchmark page reads them (scripts/docs_hooks.py): the two markers.
No imports: the docs build reads this without the benchmark's dependencies."""

BEGIN = "<!-- bench results: written by make bench -->"
END = "<!-- end of bench results -->"
