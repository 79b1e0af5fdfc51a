#!/bin/sh
# Example failover_command for pgpool-rs (and pgpool-II): promote the new main node when the
# primary failed. Configure it in pgpool.conf as
#
#   failover_command = '/etc/pgpool/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
#
# Arguments, in that order:
#   $1  %d  id of the detached node            $7  %M  old main node id
#   $2  %h  host of the detached node          $8  %P  old primary node id (-1: none)
#   $3  %p  port of the detached node          $9  %r  port of the new main node
#   $4  %D  data directory of the detached     $10 %R  data directory of the new main node
#   $5  %m  new main node id (-1: none)        $11 %N  host of the old primary
#   $6  %H  host of the new main node          $12 %S  port of the old primary
# (%d %p %m carry a leading space in the expanded command; the shell drops it.)
#
# When a standby failed there is nothing to do. When the primary failed, the new main node (the
# lowest-numbered node still up) is promoted with pg_ctl: locally when its host is this
# machine, otherwise over ssh. PGCTL, PGUSER_OS and SSH_USER may be set in the environment.

set -u
failed_node=$1
new_main_node=$5
new_main_host=$6
old_primary=$8
new_main_dir=${10}

PGCTL=${PGCTL:-pg_ctl}
PGUSER_OS=${PGUSER_OS:-postgres}
SSH_USER=${SSH_USER:-postgres}

log() { echo "failover.sh: $*" >&2; }

if [ "$failed_node" != "$old_primary" ]; then
    log "standby node $failed_node detached; nothing to promote"
    exit 0
fi
if [ "$new_main_node" -lt 0 ]; then
    log "primary node $failed_node failed and no node is left to promote"
    exit 1
fi

promote="$PGCTL -D $new_main_dir -w -t 60 promote"
case "$new_main_host" in
    localhost | 127.0.0.1 | ::1 | /* | "$(hostname)")
        if [ "$(id -u)" = 0 ]; then
            runuser -u "$PGUSER_OS" -- $promote
        else
            $promote
        fi
        ;;
    *)
        ssh -T -o StrictHostKeyChecking=no "$SSH_USER@$new_main_host" "$promote"
        ;;
esac
rc=$?
log "promote node $new_main_node ($new_main_host) exited with $rc"
exit $rc
