#include "agent/snapshot/sync_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "spool/file_util.h"

namespace pg2bq::agent::snapshot {
namespace {

constexpr const char* kPhaseNames[] = {"init", "copying", "copied", "ready"};

}  // namespace

const char* SyncPhaseName(SyncPhase phase) {
  return kPhaseNames[static_cast<int>(phase)];
}

std::uint64_t TableSyncState::RowsCopied() const {
  std::uint64_t n = 0;
  for (const auto& c : chunks)
    n += c.rows;
  return n;
}

std::size_t TableSyncState::ChunksDone() const {
  std::size_t n = 0;
  for (const auto& c : chunks)
    n += c.done;
  return n;
}

std::string TableSyncState::ToJson() const {
  nlohmann::json j;
  j["relation_oid"] = relation_oid;
  j["schema"] = schema;
  j["table"] = table;
  j["phase"] = SyncPhaseName(phase);
  j["relfilenode"] = relfilenode;
  j["hold_from_lsn"] = FormatLsn(hold_from_lsn);
  j["chunks"] = nlohmann::json::array();
  for (const auto& c : chunks) {
    j["chunks"].push_back({{"first_page", c.chunk.first_page},
                           {"end_page", c.chunk.end_page},
                           {"done", c.done},
                           {"rows", c.rows}});
  }
  return j.dump(1) + "\n";
}

Result<TableSyncState> TableSyncState::FromJson(std::string_view text) {
  try {
    const auto j = nlohmann::json::parse(text);
    TableSyncState s;
    s.relation_oid = j.at("relation_oid").get<std::uint32_t>();
    s.schema = j.at("schema").get<std::string>();
    s.table = j.at("table").get<std::string>();
    const auto phase = j.at("phase").get<std::string>();
    bool known = false;
    for (int i = 0; i < 4; ++i) {
      if (phase == kPhaseNames[i]) {
        s.phase = static_cast<SyncPhase>(i);
        known = true;
      }
    }
    if (!known) return Status::Corruption("unknown phase \"" + phase + "\"");
    s.relfilenode = j.at("relfilenode").get<std::uint32_t>();
    auto lsn = ParseLsn(j.at("hold_from_lsn").get<std::string>());
    if (!lsn) return Status::Corruption("bad hold_from_lsn");
    s.hold_from_lsn = *lsn;
    for (const auto& c : j.at("chunks")) {
      ChunkState cs;
      cs.chunk.first_page = c.at("first_page").get<std::uint64_t>();
      cs.chunk.end_page = c.at("end_page").get<std::uint64_t>();
      cs.done = c.at("done").get<bool>();
      cs.rows = c.at("rows").get<std::uint64_t>();
      s.chunks.push_back(cs);
    }
    return s;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("sync state: ") + e.what());
  }
}

Status SyncStateStore::Open() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IoError("create " + dir_ + ": " + ec.message());
  return Status::Ok();
}

std::string SyncStateStore::PathFor(std::uint32_t relation_oid) const {
  return dir_ + "/" + std::to_string(relation_oid) + ".json";
}

Result<TableSyncState> SyncStateStore::Load(std::uint32_t relation_oid) const {
  const std::string path = PathFor(relation_oid);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::IoError("open " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = TableSyncState::FromJson(ss.str());
  if (!s.ok()) return s.status().WithContext(path);
  if (s->relation_oid != relation_oid)
    return Status::Corruption(path + ": holds relation " + std::to_string(s->relation_oid));
  return s;
}

Result<std::vector<TableSyncState>> SyncStateStore::LoadAll() const {
  std::vector<TableSyncState> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() != ".json") continue;
    std::uint32_t oid = 0;
    try {
      oid = static_cast<std::uint32_t>(std::stoul(name));
    } catch (const std::exception&) {
      continue;
    }
    PG2BQ_ASSIGN_OR_RETURN(auto s, Load(oid));
    out.push_back(std::move(s));
  }
  if (ec) return Status::IoError("list " + dir_ + ": " + ec.message());
  return out;
}

Status SyncStateStore::Save(const TableSyncState& state) const {
  return spool::WriteFileAtomically(PathFor(state.relation_oid), state.ToJson());
}

Status SyncStateStore::Remove(std::uint32_t relation_oid) const {
  const std::string path = PathFor(relation_oid);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::IoError("remove " + path + ": " + std::strerror(errno));
  return spool::SyncDir(dir_);
}

Status SyncStateStore::RequestResync(std::uint32_t relation_oid) const {
  return spool::WriteFileAtomically(dir_ + "/" + std::to_string(relation_oid) + ".resync",
                                    "resync\n");
}

Result<std::vector<std::uint32_t>> SyncStateStore::ResyncRequests() const {
  std::vector<std::uint32_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".resync") continue;
    try {
      out.push_back(static_cast<std::uint32_t>(std::stoul(e.path().filename().string())));
    } catch (const std::exception&) {
      continue;
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Status::IoError("list " + dir_ + ": " + ec.message());
  return out;
}

Status SyncStateStore::ClearResync(std::uint32_t relation_oid) const {
  const std::string path = dir_ + "/" + std::to_string(relation_oid) + ".resync";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::IoError("remove " + path + ": " + std::strerror(errno));
  return spool::SyncDir(dir_);
}

}  // namespace pg2bq::agent::snapshot
