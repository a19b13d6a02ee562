//! The spool's segment decoder, as `init` runs it on whatever `logs/spool/` holds: any bytes
//! are read without a panic, every line is a record or counted as damaged, and every record
//! read writes back as a line that reads back as the same record with nothing damaged.
#![no_main]

use actionlog::fuzzing::spool_segment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let read = spool_segment(bytes);
    let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(read.records as u64 + read.damaged <= lines as u64);
    for line in &read.lines {
        let again = spool_segment(line);
        assert_eq!((again.records, again.damaged), (1, 0));
        assert_eq!(&again.lines[0], line, "a record reads back as itself");
    }
});
