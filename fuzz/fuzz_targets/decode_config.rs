//! The config decoder never panics, and what it accepts encodes back to the same bytes.
#![no_main]
use cairn_format::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((config, signed, mac)) = Config::decode(data) {
        let again = config.encode_unsigned().expect("a decoded config encodes");
        assert_eq!(again.as_slice(), signed);
        assert_eq!([signed, &mac[..]].concat(), data);
    }
});
