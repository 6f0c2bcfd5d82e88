// The binary form the child caches keep a ChildCacheRecord in (see
// op/managed_fields.h). A record is what the reconciler reads of a child; the
// operator keeps one per Deployment, Service, HPA and PDB it manages, so at
// 1000 PricingEngines the child caches hold 12,000 of them. As CBOR of the
// JSON record each is about 300 bytes, most of them field names and the
// text form of two UIDs; this form is about 90: known fields by position,
// UIDs as their 16 bytes, a numeric resourceVersion as a varint, and the
// owner's apiVersion and kind and the kept conditions' types, statuses and
// usual reasons from a table (a condition is then four bytes).
//
// Decoding gives back a record equal to the one encoded. A record of any
// other shape (a field of an unexpected type, an unknown field) is kept as
// CBOR, tagged, so nothing a projection produces is ever lost.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

namespace pricing::op {

// Returns the binary form of `record`, at its exact size.
std::vector<std::uint8_t> EncodeChildRecord(const nlohmann::json& record);

// Returns the record EncodeChildRecord encoded into `bytes`.
// REQUIRES: `bytes` came from EncodeChildRecord.
nlohmann::json DecodeChildRecord(std::span<const std::uint8_t> bytes);

}  // namespace pricing::op
