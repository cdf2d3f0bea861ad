"""Hostile input, issue #6: one test (or more) per item.

Fuzzing and properties
- atheris on the parser and on the whole pipeline, short run ......... test_fuzz::test_a_short_fuzzing_run_finds_nothing
- every crash found stays fixed ....................................... test_fuzz::test_regression_inputs_pass_*
- iter_documents: nothing escapes, well-formed events survive garbage . test_properties::test_every_well_formed_event_comes_out_whatever_surrounds_it
- the CLI (-j 1, -j 2): one UTF-8 JSON object per line ................ test_properties::test_cli_output_is_one_json_object_per_line

Bounded resources
- DEFAULT_MAX_INFLIGHT, 300k serials without EOE ...................... test_bounds::test_max_inflight_*
- DEFAULT_MAX_LINE_BYTES, a lazily generated 100 MB line .............. test_bounds::test_a_100_mb_line_*, test_a_configured_line_cap_*
- argc = 100,000 ...................................................... test_bounds::test_argc_100000
- DEFAULT_MAX_RECORDS_PER_EVENT, thousands of PATH records ............ test_bounds::test_thousands_of_path_records_*, test_a_configured_records_cap
- DEFAULT_MAX_ARGV_BYTES, a gigantic hex argument ..................... test_bounds::test_a_gigantic_hex_argument_*, test_a_configured_argv_cap
- a forged argc ...................................................... test_bounds::test_a_forged_argc_*
- DEFAULT_MAX_PROCESSES (entries and bytes) ........................... test_bounds::test_the_process_table_*
- RECENT_KEYS, the record-type cache, the reporter's rate limit ...... test_bounds::test_recent_keys_*, test_the_record_type_cache_*, test_the_reporter_*
- peak memory replaying 1 GB .......................................... bench/memory.py (too slow for the suite)

Rules as an attack surface
- regexes on RE2, linear time ......................................... test_rules::test_regexes_run_in_linear_time
- wildcards without catastrophic backtracking, semantics kept ........ test_rules::test_wildcards_*, test_wildcard_semantics_are_kept
- rule text never reaches eval/exec ................................... test_rules::test_rule_text_is_data_never_code, test_no_dynamic_code_*
- no symlinks out of a rule directory ................................. test_rules::test_symlinks_*
- as root: no world-writable rule file, no non-sticky open directory .. test_rules::test_a_world_writable_*, test_a_rule_in_a_world_writable_*

Output and files
- hostile argv / paths escaped in JSON output ......................... test_output::test_hostile_values_are_escaped_in_json_output
- C1 controls and U+2028 in JSON output (output.dumps_line) ........... test_output::test_c1_controls_*
- every stderr message escaped ........................................ test_output::test_a_malformed_line_*, test_every_stderr_*, test_rule_names_*
- state file 0600, atomic; corrupt or unreadable → start at the end ... test_state (incl. three former crash-loop cases)

Never lose an event, never hang, issue #10 (follow's faults are in tests/follow)
- inode reused while stopped; checkpointed file rotated away ............ follow/test_tail_identity::test_a_reused_inode_*, test_a_checkpointed_file_rotated_away_*
- kill -9 during rotation; a repeat is the same document ................ follow/test_faults::test_kill9_while_the_log_rotates_*, test_a_repeat_after_kill9_*
- consumer gone, blocked stdout + SIGTERM, disk full (tmpfs, /dev/full) .. follow/test_faults::test_consumer_gone_*, test_sigterm_ends_*, test_disk_full_*
- output renamed with and without SIGHUP; torn line; 0600; missing dir .. follow/test_faults::test_a_renamed_output_*, test_a_torn_line_*, test_*_one_line; test_batch_output
- two followers, planted state, state directory that cannot be made ..... follow/test_faults::test_a_second_follower_*, test_as_root_*, test_a_state_directory_*
- -j 2: | head, Ctrl-C once and twice, SIGTERM, a dead worker ........... test_shutdown
- truncated / corrupt / trailing-garbage gzip in a rotated set .......... test_archives
- FIFO, socket, device as PATH ......................................... test_archives::test_a_socket_*, test_a_device_*, follow/test_tail_identity::test_a_fifo_or_socket_*
- deep nesting, huge queries and files, SIGHUP with a broken rule ....... test_rules::test_a_query_nesting_*, test_a_query_over_*, follow/test_restart::test_sighup_*
- non-boolean conditions ............................................... eql/test_syntax
- id collision; relayed node= .......................................... test_assemble, test_parse, fixtures/id-collision, fixtures/syslog-relay
- the soak: 20 kills -9 while the log rotates every second .............. bench/follow_soak.py (too slow for the suite)
"""
