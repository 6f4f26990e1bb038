#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests, benchmarks and the demo.
#
#   test/scratch-server.sh start DIR PORT [postgres.conf settings...]
#   test/scratch-server.sh restart DIR      (after ALTER SYSTEM of a restart setting)
#   test/scratch-server.sh standby DIR PORT PRIMARY_DIR PRIMARY_PORT [settings...]
#                                           (a streaming hot standby of a scratch server)
#   test/scratch-server.sh promote DIR
#   test/scratch-server.sh stop DIR
#
# The server runs as an unprivileged user (when run as root:
# $PG_INFER_SERVER_USER, default postgres; else the caller), listens only on
# a Unix socket in DIR, trusts local connections, and keeps everything under
# DIR.  Connect with `psql -h DIR -p PORT -U postgres`.  PGBIN overrides the
# server binaries' directory (default: pg_config --bindir).
set -euo pipefail

PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
cmd=${1:?usage: scratch-server.sh start|restart|stop DIR [PORT]}
dir=${2:?usage: scratch-server.sh start|restart|stop DIR [PORT]}

owner=${PG_INFER_SERVER_USER:-postgres}
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
if [ "$(id -u)" = 0 ]; then
    # from /: the caller's directory may be closed to the owner
    as_owner() { (cd / && runuser -u "$owner" -- "$@"); }
else
    as_owner() { "$@"; }
fi

case "$cmd" in
start)
    port=${3:?PORT is required}
    shift 3
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
    as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log"
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $port"
        echo "fsync = off"
        echo "max_connections = 60"
        echo "logging_collector = off"
        for setting in "$@"; do echo "$setting"; done
    } >>"$dir/data/postgresql.conf"
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
restart)
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
standby)
    port=${3:?PORT is required}
    primary_dir=${4:?PRIMARY_DIR is required}
    primary_port=${5:?PRIMARY_PORT is required}
    shift 5
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
    # a base backup that writes standby.signal and primary_conninfo (-R)
    as_owner "$PGBIN/pg_basebackup" -h "$primary_dir" -p "$primary_port" -U postgres -D "$dir/data" \
        -R -X stream --no-sync >"$dir/basebackup.log" 2>&1
    {
        echo "unix_socket_directories = '$dir'"
        echo "port = $port"
        echo "hot_standby = on"
        for setting in "$@"; do echo "$setting"; done
    } >>"$dir/data/postgresql.conf"
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
promote)
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    ;;
*)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
