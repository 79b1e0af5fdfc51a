//! SHOW pool_* and PGPOOL SHOW/SET/RESET through our daemon (spec/sql-commands.md).
