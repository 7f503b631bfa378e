//! Seals the fuzzer's bytes with a fixed test key, as a writer would, then reads them back
//! as a reader does: file header, sealed-box framing, authenticated decryption, payload
//! header, bounded zstd decompression and the object's decoder. Random bytes never pass the
//! AEAD, so without sealing first the decoders behind it would never be reached.
#![no_main]
use cairn_format::envelope::{NONCE_LEN, ObjectType, TAG_LEN, aad, split_sealed};
use cairn_format::fuzzing::{opened_payload, sealed_object};
use cairn_format::header::{FileKind, decode_file_header, encode_file_header};
use cairn_format::id::ObjectId;
use cairn_format::wire::Reader;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use libfuzzer_sys::fuzz_target;

const TEST_KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; NONCE_LEN] = [0x24; NONCE_LEN];
const REPO_ID: ObjectId = ObjectId([0x11; 32]);
const BLOB_ID: ObjectId = ObjectId([0x22; 32]);

/// The file kind whose header precedes the box, and the object id bound into the AAD.
fn framing(object: ObjectType) -> (Option<FileKind>, ObjectId) {
    match object {
        ObjectType::PackHeader => (Some(FileKind::Pack), ObjectId::ZERO),
        ObjectType::Index => (Some(FileKind::Index), ObjectId::ZERO),
        ObjectType::Snapshot => (Some(FileKind::Snapshot), ObjectId::ZERO),
        ObjectType::Lock => (Some(FileKind::Lock), ObjectId::ZERO),
        ObjectType::Policy => (Some(FileKind::Policy), ObjectId::ZERO),
        ObjectType::DataBlob | ObjectType::TreeBlob | ObjectType::KeySlot => (None, BLOB_ID),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, plaintext)) = data.split_first() else { return };
    let object = sealed_object(selector);
    let (file_kind, object_id) = framing(object);
    let prefix = file_kind.map(encode_file_header).map(|h| h.to_vec()).unwrap_or_default();
    let cipher = XChaCha20Poly1305::new(&TEST_KEY.into());

    // The writer.
    let mut stored = [&prefix[..], &NONCE[..], plaintext].concat();
    let body_start = prefix.len() + NONCE_LEN;
    let tag = cipher
        .encrypt_inout_detached(
            &XNonce::from(NONCE),
            &aad(object, &REPO_ID, &object_id, &prefix),
            (&mut stored[body_start..]).into(),
        )
        .expect("sealing cannot fail");
    stored.extend_from_slice(&tag);

    // The reader.
    let mut reader = Reader::new(&stored);
    if let Some(kind) = file_kind {
        decode_file_header(&mut reader, kind).expect("the writer's own file header decodes");
    }
    let (header, sealed) = stored.split_at(prefix.len());
    let boxed = split_sealed(sealed, "fuzz").expect("the writer's box splits");
    let (ciphertext, tag) = boxed.ciphertext_and_tag.split_at(boxed.ciphertext_and_tag.len() - TAG_LEN);
    let mut opened = ciphertext.to_vec();
    cipher
        .decrypt_inout_detached(
            &XNonce::from(boxed.nonce),
            &aad(object, &REPO_ID, &object_id, header),
            opened.as_mut_slice().into(),
            tag.try_into().expect("16-byte tag"),
        )
        .expect("the writer's box opens");
    assert_eq!(opened, plaintext);
    opened.insert(0, selector);
    opened_payload(&opened);
});
