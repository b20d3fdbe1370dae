// Holds the rendered lines of streamed (large, in-progress) transactions until their
// outcome is known. Lines go to an unlinked temp file per transaction (in $TMPDIR or
// /tmp), so a transaction of any size costs ~32 bytes of memory per change; a
// subtransaction abort only forgets the index entries of that subtransaction.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/lsn.h"
#include "common/status.h"
#include "decoder/pgoutput_message.h"

namespace pg2bq::agent {

class StreamedTransactionBuffer {
 public:
  StreamedTransactionBuffer() = default;
  ~StreamedTransactionBuffer() { Clear(); }
  StreamedTransactionBuffer(const StreamedTransactionBuffer&) = delete;
  StreamedTransactionBuffer& operator=(const StreamedTransactionBuffer&) = delete;

  Status Add(Xid xid, Xid subxid, Lsn lsn, std::string_view line);
  // Hands every kept line of `xid` to `emit` in arrival order, then forgets `xid`.
  Status Commit(Xid xid, const std::function<void(Lsn, std::string_view)>& emit);
  // subxid == xid: the whole transaction; otherwise only that subtransaction's lines.
  void Abort(Xid xid, Xid subxid);
  void Clear();
  std::size_t open_transactions() const { return txns_.size(); }

 private:
  struct Entry {
    Xid subxid;
    Lsn lsn;
    std::uint64_t offset;
    std::uint32_t length;
  };
  struct Txn {
    std::FILE* file = nullptr;
    std::uint64_t size = 0;
    std::vector<Entry> entries;
  };
  std::unordered_map<Xid, Txn> txns_;
  std::string scratch_;
};

}  // namespace pg2bq::agent
