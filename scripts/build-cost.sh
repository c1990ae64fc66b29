#!/usr/bin/env bash
# Measures what sql! costs at build time. Each crate below has 200 functions; all are rebuilt
# in turn (dependencies already built) RUNS times (default 5) after touching their lib.rs,
# and each crate's best time counts (elapsed time; CLOCK=cpu takes the user and system time
# instead). A variant's cost per call is its time above the same crate with plain strings,
# divided by 200. The crates:
#   1. the same SELECT 200 times (no schema), against the same strings;
#   2. 200 varied calls (selects with typed WHERE arguments, joins, `sql!(as Row, ...)` into
#      `#[derive(SqlRow)]` structs, inserts, updates, deletes, a view) over a 30-table
#      schema, once with its migrations beside the crate (every name, argument type and
#      result field checked against them) and once without; the plain-string crate has the
#      same functions, signatures and row structs.
# Each is measured with cargo's default incremental compilation (an edit-and-rebuild loop:
# the compiler reuses its work on the expanded code, so mostly the macros' own run counts)
# and without it (CARGO_INCREMENTAL=0, as in CI and release builds: all of it is compiled
# again). Then a clean build of the macro crate with its dependencies.
# The generated crates build in CARGO_TARGET_DIR (default: a folder in the system's temporary
# directory, kept between runs so that only the first run builds the dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

runs=${RUNS:-5}
# wall: elapsed time; cpu: the compiler's user and system time, which other work on a shared
# machine disturbs less.
clock=${CLOCK:-wall}
calls=200
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/sql-client-build-cost-target}"

# A crate named $1 in $work/$1 whose lib.rs is standard input; the workspace's lock file and
# toolchain, so that it builds with the same dependencies and compiler.
new_crate() {
    local dir="$work/$1"
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2024"

[dependencies]
sql-client = { path = "$root/sql-client" }

[package.metadata.sql-client]
plugin = "bench"
TOML
    cp Cargo.lock rust-toolchain.toml "$dir/"
    cat >"$dir/src/lib.rs"
}

## 1. The same SELECT 200 times.

same_select() { # body of each function
    echo "#![allow(dead_code)]"
    for i in $(seq 1 $calls); do
        printf "$1\n" "$i" "$i" "$i"
    done
}
same_select 'pub fn q%s() -> sql_client::Query<sql_client::Select> { sql_client::sql!("SELECT id, name, n FROM bench__t%s WHERE id = $1 AND name <> $2", 1, "x") } // %s' |
    new_crate with_sql
same_select 'pub fn q%s() -> (&'"'"'static str, i32, &'"'"'static str) { ("SELECT id, name, n FROM bench__t%s WHERE id = $1 AND name <> $2", 1, "x") } // %s' |
    new_crate without_sql

## 2. Varied calls over a 30-table schema.

# One line per table: its migration file, its name (without the `bench__` prefix), then its
# columns after `id INTEGER PRIMARY KEY`, each NAME:KIND[:nn][:d=DEFAULT][:fk=TABLE].
# `+NAME` is added later by ALTER TABLE ... ADD COLUMN, `OLD>NEW` created as OLD and renamed
# by ALTER TABLE ... RENAME COLUMN (both in 006_changes.sql).
spec=$(
    cat <<'SPEC'
001_accounts users        email:text:nn name:text:nn age:int score:real:nn:d=0 active:bool:nn:d=1 created_at:ts:nn:d=CURRENT_TIMESTAMP +locale:text:nn:d='en'
001_accounts teams        name:text:nn slug:text:nn owner_id:int:nn:fk=users tier:text:nn:d='free' seats:int:nn:d=5 created_at:ts:nn:d=CURRENT_TIMESTAMP
001_accounts team_members team_id:int:nn:fk=teams user_id:int:nn:fk=users member_role:text:nn:d='member' joined_at:ts:nn:d=CURRENT_TIMESTAMP invited_by:int
001_accounts sessions     user_id:int:nn:fk=users token:text:nn ip:text user_agent:text expires_at:ts:nn created_at:ts:nn:d=CURRENT_TIMESTAMP
001_accounts api_keys     user_id:int:nn:fk=users label:text:nn key_hash:blob:nn scopes:json:nn:d='[]' last_used_at:ts revoked:bool:nn:d=0
001_accounts audit_log    user_id:int:fk=users verb:text:nn subject:text details:json occurred_at:ts:nn:d=CURRENT_TIMESTAMP ip:text
002_catalog  categories   name:text:nn parent_id:int sort_order:int:nn:d=0 visible:bool:nn:d=1 description:text
002_catalog  suppliers    name:text:nn country:text:nn email:text rating:real phone:text partner_since:date
002_catalog  products     category_id:int:nn:fk=categories supplier_id:int:fk=suppliers title>name:text:nn sku:text:nn price:num:nn weight_g:int description:text created_at:ts:nn:d=CURRENT_TIMESTAMP +archived:bool:nn:d=0
002_catalog  product_images product_id:int:nn:fk=products url:text:nn width:int:nn height:int:nn alt_text:text sort_order:int:nn:d=0
002_catalog  prices       product_id:int:nn:fk=products currency:text:nn:d='EUR' amount:num:nn valid_from:date:nn valid_to:date
002_catalog  inventory    product_id:int:nn:fk=products warehouse:text:nn quantity:int:nn:d=0 held:int:nn:d=0 updated_at:ts:nn:d=CURRENT_TIMESTAMP
003_orders   coupons      code:text:nn percent_off:real amount_off:num expires_on:date max_uses:int:nn:d=1 use_count:int:nn:d=0
003_orders   orders       user_id:int:nn:fk=users coupon_id:int:fk=coupons status:text:nn:d='new' total:num:nn:d=0 placed_at:ts:nn:d=CURRENT_TIMESTAMP note:text +external_ref:uuid
003_orders   order_items  order_id:int:nn:fk=orders product_id:int:nn:fk=products quantity:int:nn unit_price:num:nn discount:real:nn:d=0
003_orders   payments     order_id:int:nn:fk=orders provider:text:nn amount:num:nn status:text:nn:d='pending' paid_at:ts response:json
003_orders   refunds      payment_id:int:nn:fk=payments amount:num:nn reason>note:text created_at:ts:nn:d=CURRENT_TIMESTAMP approved:bool:nn:d=0
003_orders   shipments    order_id:int:nn:fk=orders carrier:text:nn tracking:text shipped_on:date delivered_on:date weight_g:int
004_content  posts        author_id:int:nn:fk=users title:text:nn body:text:nn published:bool:nn:d=0 published_at:ts view_count:int:nn:d=0 slug:text:nn
004_content  comments     post_id:int:nn:fk=posts author_id:int:nn:fk=users body:text:nn created_at:ts:nn:d=CURRENT_TIMESTAMP edited:bool:nn:d=0 score:int:nn:d=0
004_content  tags         name:text:nn color:text:nn:d='gray' use_count:int:nn:d=0 created_at:ts:nn:d=CURRENT_TIMESTAMP description:text
004_content  post_tags    post_id:int:nn:fk=posts tag_id:int:nn:fk=tags added_at:ts:nn:d=CURRENT_TIMESTAMP added_by:int weight:real:nn:d=1
004_content  attachments  post_id:int:nn:fk=posts file_name:text:nn mime:text:nn size_bytes:int:nn content:blob checksum:text
004_content  reactions    post_id:int:nn:fk=posts user_id:int:nn:fk=users kind:text:nn occurred_at:ts:nn:d=CURRENT_TIMESTAMP weight:int:nn:d=1
005_ops      jobs         name:text:nn schedule:text:nn enabled:bool:nn:d=1 timeout_s:int:nn:d=60 last_run_at:ts params:json
005_ops      job_runs     job_id:int:nn:fk=jobs started_at:ts:nn finished_at:ts ok:bool log_text:text duration_ms:real
005_ops      events       uid:uuid:nn kind:text:nn payload:json:nn:d='{}' user_id:int:fk=users occurred_at:ts:nn:d=CURRENT_TIMESTAMP processed:bool:nn:d=0
005_ops      metrics      name:text:nn reading:real:nn unit:text:nn:d='' measured_at:ts:nn host:text on_day:date:nn
005_ops      alerts       metric_id:int:nn:fk=metrics threshold:real:nn severity:text:nn:d='warn' fired_at:ts acknowledged:bool:nn:d=0 message:text
005_ops      settings     setting_key:text:nn setting_value:text:nn updated_by:int:fk=users updated_at:ts:nn:d=CURRENT_TIMESTAMP secret:bool:nn:d=0 +description:text
SPEC
)
declare -A SQL_TYPE=([text]=TEXT [int]=INTEGER [real]=REAL [num]='NUMERIC(12,2)' [bool]=BOOLEAN
    [ts]=TIMESTAMP [date]=DATE [blob]=BLOB [json]=JSON [uuid]=UUID)
# The Rust type of an argument for a column of each kind, and of a field reading it.
declare -A ARG_TYPE=([text]='&str' [int]=i64 [real]=f64 [num]=f64 [bool]=bool
    [ts]='&str' [date]='&str' [blob]='&[u8]' [json]='&str' [uuid]='&str')
declare -A FIELD_TYPE=([text]=String [int]=i64 [real]=f64 [num]=f64 [bool]=bool
    [ts]=String [date]=String [blob]='Vec<u8>' [json]=String [uuid]=String)

tables=()
declare -A file_of cols_of
while read -r file table columns; do
    [ -n "$file" ] || continue
    tables+=("$table")
    file_of[$table]=$file
    cols_of[$table]=$columns
done <<<"$spec"

# Splits column token $1 into c_name, c_old (its name before a rename), c_added, c_kind,
# c_nn (1: NOT NULL), c_def (its DEFAULT) and c_fk (the table it references).
col() {
    local tok=$1 part parts
    c_added=0 c_old="" c_nn=0 c_def="" c_fk=""
    if [[ $tok == +* ]]; then c_added=1 tok=${tok#+}; fi
    IFS=: read -r -a parts <<<"$tok"
    c_name=${parts[0]} c_kind=${parts[1]}
    if [[ $c_name == *'>'* ]]; then c_old=${c_name%%>*} c_name=${c_name#*>}; fi
    for part in "${parts[@]:2}"; do
        case $part in
        nn) c_nn=1 ;;
        d=*) c_def=${part#d=} ;;
        fk=*) c_fk=${part#fk=} ;;
        esac
    done
}
decl() { # the column's declaration after its name
    local d=${SQL_TYPE[$c_kind]}
    [ "$c_nn" = 0 ] || d+=" NOT NULL"
    [ -z "$c_def" ] || d+=" DEFAULT $c_def"
    [ -z "$c_fk" ] || d+=" REFERENCES bench__$c_fk(id)"
    echo "$d"
}
field_type() { # kind, NOT NULL (1 or 0), and 1 when it may be NULL all the same (outer join)
    if [ "$2" = 1 ] && [ "${3:-0}" = 0 ]; then echo "${FIELD_TYPE[$1]}"; else echo "Option<${FIELD_TYPE[$1]}>"; fi
}
camel() { sed -E 's/(^|_)([a-z])/\U\2/g' <<<"$1"; }

write_migrations() { # into $1
    local dir=$1 table tok file
    mkdir -p "$dir"
    for table in "${tables[@]}"; do
        file="$dir/${file_of[$table]}.sql"
        {
            printf 'CREATE TABLE bench__%s (\n    id INTEGER PRIMARY KEY' "$table"
            for tok in ${cols_of[$table]}; do
                col "$tok"
                [ "$c_added" = 0 ] || continue
                printf ',\n    %s %s' "${c_old:-$c_name}" "$(decl)"
            done
            printf '\n);\n'
            for tok in ${cols_of[$table]}; do
                col "$tok"
                if [ -n "$c_fk" ]; then
                    printf 'CREATE INDEX bench__%s_%s_idx ON bench__%s (%s);\n' "$table" "${c_old:-$c_name}" "$table" "${c_old:-$c_name}"
                fi
            done
        } >>"$file"
    done
    {
        echo "-- Columns added and renamed after the first release."
        for table in "${tables[@]}"; do
            for tok in ${cols_of[$table]}; do
                col "$tok"
                if [ "$c_added" = 1 ]; then echo "ALTER TABLE bench__$table ADD COLUMN $c_name $(decl);"; fi
                if [ -n "$c_old" ]; then echo "ALTER TABLE bench__$table RENAME COLUMN $c_old TO $c_name;"; fi
            done
        done
    } >"$dir/006_changes.sql"
    cat >"$dir/007_views.sql" <<'SQL'
CREATE VIEW bench__order_totals AS
SELECT o.id AS order_id, o.user_id, o.status, count(i.id) AS items,
       coalesce(sum(i.quantity * i.unit_price), 0) AS amount
FROM bench__orders o LEFT JOIN bench__order_items i ON i.order_id = o.id
GROUP BY o.id, o.user_id, o.status;
SQL
}

# The calls: fn_name, fn_params, fn_kind (Select, Insert, ...), fn_as (a row type or
# empty), fn_sql, fn_args; structs holds the row structs.
fn_name=() fn_params=() fn_kind=() fn_as=() fn_sql=() fn_args=() structs=()
call() { # name params kind as sql args
    fn_name+=("$1") fn_params+=("$2") fn_kind+=("$3") fn_as+=("$4") fn_sql+=("$5") fn_args+=("$6")
}
row_struct() { # name, then "field:type" pairs
    local name=$1 s
    shift
    s="#[derive(SqlRow)]\npub struct $name {\n"
    for f in "$@"; do s+="    pub ${f%%:*}: ${f#*:},\n"; done
    structs+=("$s}\n")
}
# Columns of $1 other than id: names, kinds, NOT NULL flags, defaults, references; and two
# columns to filter on: f1, the first that is not a reference, and f2, the first number or
# date after it.
table_facts() {
    local tok
    t_names=() t_kinds=() t_nn=() t_def=() t_fk=() f1="" f2=""
    for tok in ${cols_of[$1]}; do
        col "$tok"
        t_names+=("$c_name") t_kinds+=("$c_kind") t_nn+=("$c_nn") t_def+=("$c_def") t_fk+=("$c_fk")
        if [ -z "$c_fk" ] && [ -z "$f1" ]; then
            f1=$c_name f1_kind=$c_kind
        elif [ -z "$c_fk" ] && [ -z "$f2" ] && [[ $c_kind =~ ^(int|real|num|ts|date)$ ]]; then
            f2=$c_name f2_kind=$c_kind
        fi
    done
    if [ -z "$f2" ]; then f2=id f2_kind=int; fi
}
set_col() { # the current column := column $1 of table_facts
    c_name=${t_names[$1]} c_kind=${t_kinds[$1]} c_nn=${t_nn[$1]} c_def=${t_def[$1]} c_fk=${t_fk[$1]}
}
param() { # the parameter for the current column ($1 = 1: Option when it may be NULL)
    local ty=${ARG_TYPE[$c_kind]}
    if [ "${1:-0}" = 1 ] && [ "$c_nn" = 0 ]; then ty="Option<$ty>"; fi
    p_decl="$c_name: $ty"
    if [ "$c_kind" = blob ]; then
        if [[ $ty == Option* ]]; then p_arg="$c_name.map(Blob)"; else p_arg="Blob($c_name)"; fi
    else
        p_arg=$c_name
    fi
}

generate_calls() {
    local n=0 table tok i j k row fields sel params args parent cols vals left optional
    local own_col own_kind own_nn
    for table in "${tables[@]}"; do
        table_facts "$table"
        row="$(camel "$table")Row"
        # A: one row by id, into a struct of its first columns.
        sel="id" fields=("id:i64")
        for ((i = 0; i < ${#t_names[@]} && i < 6; i++)); do
            set_col "$i"
            sel+=", $c_name" fields+=("$c_name:$(field_type "$c_kind" "$c_nn")")
        done
        row_struct "$row" "${fields[@]}"
        call "${table}_get" "id: i64" Select "$row" "SELECT $sel FROM bench__$table WHERE id = \$1" "id"
        # B: filtered on typed columns, ordered, limited.
        call "${table}_find" "$f1: ${ARG_TYPE[$f1_kind]}, $f2: ${ARG_TYPE[$f2_kind]}, limit: i64" Select "" \
            "SELECT id, $f1, $f2 FROM bench__$table WHERE $f1 = \$1 AND $f2 >= \$2 ORDER BY $f2 DESC LIMIT \$3" \
            "$(if [ "$f1_kind" = blob ]; then echo "Blob($f1)"; else echo "$f1"; fi), $f2, limit"
        # C: a join with the table its first reference points to (inner and outer in turn),
        # or a count.
        parent="" k=""
        for ((i = 0; i < ${#t_names[@]}; i++)); do
            if [ -n "${t_fk[$i]}" ]; then parent=${t_fk[$i]} k=${t_names[$i]}; break; fi
        done
        if [ -n "$parent" ]; then
            for tok in ${cols_of[$parent]}; do
                col "$tok"
                if [ -z "$c_fk" ]; then break; fi
            done
            left=$((n % 2))
            for ((i = 0; i < ${#t_names[@]}; i++)); do
                if [ -z "${t_fk[$i]}" ]; then own_col=${t_names[$i]} own_kind=${t_kinds[$i]} own_nn=${t_nn[$i]}; break; fi
            done
            fields=("id:i64" "$own_col:$(field_type "$own_kind" "$own_nn")" "${parent}_$c_name:$(field_type "$c_kind" "$c_nn" "$left")")
            row_struct "$(camel "$table")With$(camel "$parent")" "${fields[@]}"
            call "${table}_with_${parent}" "${parent}_id: i64" Select "$(camel "$table")With$(camel "$parent")" \
                "SELECT t.id, t.$own_col, p.$c_name AS ${parent}_$c_name FROM bench__$table t $([ "$left" = 1 ] && echo "LEFT ")JOIN bench__$parent p ON p.id = t.$k WHERE t.$k = \$1 ORDER BY t.id" \
                "${parent}_id"
        else
            call "${table}_count" "$f1: ${ARG_TYPE[$f1_kind]}" Select Count \
                "SELECT count(*) AS n FROM bench__$table WHERE $f1 = \$1" "$f1"
        fi
        # D: an insert of the columns without a default, and the first optional one.
        cols="" vals="" params="" args="" j=0 optional=""
        for ((i = 0; i < ${#t_names[@]}; i++)); do
            set_col "$i"
            if [ "$c_nn" = 0 ] && [ -z "$optional" ]; then
                optional=$c_name
            elif [ "$c_nn" = 0 ] || [ -n "$c_def" ]; then
                continue
            fi
            j=$((j + 1))
            param 1
            cols+="${cols:+, }$c_name" vals+="${vals:+, }\$$j" params+="${params:+, }$p_decl" args+="${args:+, }$p_arg"
        done
        call "${table}_insert" "$params" Insert "" "INSERT INTO bench__$table ($cols) VALUES ($vals)" "$args"
        # E: an update of its last two columns that are not references.
        params="" args="" sel="" j=0
        for ((i = ${#t_names[@]} - 1; i >= 0 && j < 2; i--)); do
            set_col "$i"
            [ -z "$c_fk" ] || continue
            j=$((j + 1))
            param 1
            sel+="${sel:+, }$c_name = \$$j" params+="${params:+, }$p_decl" args+="${args:+, }$p_arg"
        done
        call "${table}_update" "$params, id: i64" Update "" "UPDATE bench__$table SET $sel WHERE id = \$$((j + 1))" "$args, id"
        # F: a delete by id, or of old rows.
        if [ $((n % 2)) = 0 ] || [ "$f2" = id ]; then
            call "${table}_delete" "id: i64" Delete "" "DELETE FROM bench__$table WHERE id = \$1" "id"
        else
            call "${table}_delete_before" "$f2: ${ARG_TYPE[$f2_kind]}" Delete "" "DELETE FROM bench__$table WHERE $f2 < \$1" "$f2"
        fi
        n=$((n + 1))
    done
    # The view.
    row_struct OrderTotal "order_id:i64" "items:i64" "amount:f64"
    row_struct Count "n:i64"
    call order_totals_of "user_id: i64, limit: i64" Select OrderTotal \
        "SELECT order_id, items, amount FROM bench__order_totals WHERE user_id = \$1 ORDER BY amount DESC LIMIT \$2" "user_id, limit"
    call order_totals_by_status "status: &str, amount: f64" Select "" \
        "SELECT u.email, t.items, t.amount FROM bench__order_totals t JOIN bench__users u ON u.id = t.user_id WHERE t.status = \$1 AND t.amount >= \$2" "status, amount"
    call order_totals_count "items: i64" Select Count "SELECT count(*) AS n FROM bench__order_totals WHERE items = \$1" "items"
    # G: lists and ranges, and groups, until there are $calls calls.
    n=0
    while [ "${#fn_name[@]}" -lt "$calls" ]; do
        table=${tables[$n]}
        table_facts "$table"
        if [ $((n % 2)) = 0 ]; then
            call "${table}_pick" "a: ${ARG_TYPE[$f1_kind]}, b: ${ARG_TYPE[$f1_kind]}, lo: ${ARG_TYPE[$f2_kind]}, hi: ${ARG_TYPE[$f2_kind]}" Select "" \
                "SELECT id, $f1 FROM bench__$table WHERE $f1 IN (\$1, \$2) OR $f2 BETWEEN \$3 AND \$4 ORDER BY $f1" "a, b, lo, hi"
        else
            call "${table}_busiest" "min: i64" Select "" \
                "SELECT $f1, count(*) AS n, max(id) AS latest FROM bench__$table GROUP BY $f1 HAVING count(*) > \$1" "min"
        fi
        n=$((n + 1))
    done
}

write_lib() { # plain|sql
    local i
    echo "#![allow(dead_code, unused_imports)]"
    echo "use sql_client::{sql, Blob, Delete, Insert, Query, Select, SqlRow, Update};"
    echo
    printf '%b\n' "${structs[@]}"
    for ((i = 0; i < ${#fn_name[@]}; i++)); do
        if [ "$1" = plain ]; then
            printf 'pub fn %s(%s) -> impl Sized {\n    ("%s", %s)\n}\n' \
                "${fn_name[$i]}" "${fn_params[$i]}" "${fn_sql[$i]}" "${fn_args[$i]}"
        else
            printf 'pub fn %s(%s) -> Query<%s> {\n    sql!(%s"%s", %s)\n}\n' \
                "${fn_name[$i]}" "${fn_params[$i]}" "${fn_kind[$i]}" "${fn_as[$i]:+as ${fn_as[$i]}, }" "${fn_sql[$i]}" "${fn_args[$i]}"
        fi
    done
}

generate_calls
write_lib plain | new_crate schema_plain
write_lib sql | new_crate schema_unchecked
write_lib sql | new_crate schema_checked
write_migrations "$work/schema_checked/migrations/bench"

## Measuring.

crates=(without_sql with_sql schema_plain schema_unchecked schema_checked)
declare -A best
build() { # crate
    (cd "$work/$1" && cargo build -q)
}
# Rebuilds every crate RUNS times, in turn (so that a burst of other work on the machine
# slows all of them alike), after one untimed build; best[crate] := the best time.
measure() {
    local crate t wall user sys TIMEFORMAT='%R %U %S'
    for crate in "${crates[@]}"; do
        if ! build "$crate" >"$work/build.log" 2>&1; then
            say "building $crate failed:"
            cat "$work/build.log" >&2
            exit 1
        fi
        best[$crate]=""
    done
    for _ in $(seq "$runs"); do
        for crate in "${crates[@]}"; do
            touch "$work/$crate/src/lib.rs"
            { time build "$crate" 2>&3; } 3>&2 2>"$work/time"
            read -r wall user sys <"$work/time"
            if [ "$clock" = cpu ]; then t=$(echo "$user + $sys" | bc); else t=$wall; fi
            if [ -z "${best[$crate]}" ] || [ "$(echo "$t < ${best[$crate]}" | bc)" = 1 ]; then best[$crate]=$t; fi
        done
    done
}
declare -A incremental full
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if [ "$(echo "$load > $(nproc)" | bc)" = 1 ]; then
    say "the machine is busy (load $load on $(nproc) cores): elapsed times grow with it; CLOCK=cpu is disturbed less"
fi
say "building the generated crates' dependencies in $CARGO_TARGET_DIR (once; minutes the first time)"
say "rebuilding each crate after touching its lib.rs, best of $runs, with cargo's default incremental compilation"
CARGO_INCREMENTAL=1 measure
for crate in "${crates[@]}"; do incremental[$crate]=${best[$crate]}; done
say "again without it (CARGO_INCREMENTAL=0: every expansion is compiled again, as in CI or a release build)"
CARGO_INCREMENTAL=0 measure
for crate in "${crates[@]}"; do full[$crate]=${best[$crate]}; done

cost() { # times of the crate and of its baseline: the cost per call, or nothing for the baseline
    [ "$1" = "$2" ] || printf '%+.1f ms/call' "$(echo "($1 - $2) * 1000 / $calls" | bc -l)"
}
line() { # label, crate, baseline crate
    printf '  %-41s %5.2f s %-14s %5.2f s %s\n' "$1" \
        "${incremental[$2]}" "$(cost "${incremental[$2]}" "${incremental[$3]}")" \
        "${full[$2]}" "$(cost "${full[$2]}" "${full[$3]}")"
}
printf '%-45s%-23s%s\n' "rebuild of $calls functions ($clock, best of $runs)" "incremental" "CARGO_INCREMENTAL=0"
echo "the same SELECT $calls times, no schema:"
line "plain strings" without_sql without_sql
line "sql!" with_sql without_sql
echo "$calls varied calls over ${#tables[@]} tables ($(find "$work/schema_checked/migrations/bench" -name '*.sql' | wc -l) migration files):"
line "plain strings" schema_plain schema_plain
line "sql!, no migrations folder" schema_unchecked schema_plain
line "sql!, checked against migrations/bench/" schema_checked schema_plain

say "clean build of sql-client-macros and its dependencies (2 jobs)"
clean="$work/clean-target"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$clean" cargo build -q -j 2 -p sql-client-macros
end=$(date +%s.%N)
printf 'clean build of the macro crate: %.1f s\n' "$(echo "$end - $start" | bc)"
