"""psycopg 3 through pgpool-rs in streaming_replication mode: server-side prepared statements
and pipeline mode (issue 5). Run by tests/it/psycopg.rs as
    python3 psycopg_pipeline.py "<conninfo>" <primary port> <standby port>
Prints one line per check and exits non-zero on the first failure."""

import sys

import psycopg

conninfo, primary, standby = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def check(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok {what}")


with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
    table = f"psy_{conn.info.backend_pid}"
    conn.execute(f"CREATE TABLE {table} (id int primary key, v text)")
    try:
        # prepared (prepare_threshold=0: every statement is a named server-side statement)
        for _ in range(3):
            port = conn.execute("SELECT inet_server_port()").fetchone()[0]
            check("prepared read on the standby", port, standby)
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, "one"))
            port = conn.execute("SELECT inet_server_port()").fetchone()[0]
            check("prepared read after a write in the transaction: primary", port, primary)
            row = conn.execute(f"SELECT v FROM {table} WHERE id = %s", (1,)).fetchone()
            check("the write is visible in the transaction", row, ("one",))

        # pipeline mode: several statements, one Sync
        with conn.pipeline():
            cur1 = conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (2, "two"))
            cur2 = conn.execute("SELECT inet_server_port()")
            cur3 = conn.execute(f"UPDATE {table} SET v = %s WHERE id = %s", ("deux", 2))
        check("pipelined INSERT", cur1.rowcount, 1)
        check("pipelined read", cur2.fetchone()[0] in (primary, standby), True)
        check("pipelined UPDATE", cur3.rowcount, 1)

        # an error inside a pipeline: the error surfaces, the connection stays usable
        try:
            with conn.pipeline():
                conn.execute("SELECT 1")
                conn.execute("SELECT 1/0")
                conn.execute("SELECT 2")
            check("pipeline error raised", False, True)
        except psycopg.errors.DivisionByZero:
            check("pipeline error raised", True, True)
        check("usable after the pipeline error", conn.execute("SELECT 42").fetchone(), (42,))

        # a pipeline inside a transaction with a write first: later reads follow the primary
        with conn.transaction():
            with conn.pipeline():
                conn.execute(f"DELETE FROM {table} WHERE id = %s", (1,))
                cur = conn.execute("SELECT inet_server_port()")
            check("pipelined read after a write: primary", cur.fetchone()[0], primary)
        # the standby may lag: a leading comment sends the read to the primary
        n = conn.execute(f"/*primary*/ SELECT count(*) FROM {table}").fetchone()
        check("rows left", n, (1,))
    finally:
        conn.execute(f"DROP TABLE {table}")
print("done")
