// Test helpers: parse encoded rows back with protobuf's own DynamicMessage.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "sink/table_descriptor.h"

namespace pg2bq::sink::testing {

class RowParser {
 public:
  explicit RowParser(const TableDescriptor& d) {
    google::protobuf::FileDescriptorProto file;
    file.set_name("pg2bq_row_test.proto");
    file.set_syntax("proto2");
    *file.add_message_type() = d.proto;
    const auto* fd = pool_.BuildFile(file);
    EXPECT_NE(fd, nullptr) << "descriptor does not build: " << d.proto.DebugString();
    if (fd) desc_ = fd->message_type(0);
  }
  std::unique_ptr<google::protobuf::Message> Parse(std::string_view bytes) {
    std::unique_ptr<google::protobuf::Message> m(factory_.GetPrototype(desc_)->New());
    EXPECT_TRUE(m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    return m;
  }
  const google::protobuf::Descriptor* descriptor() const { return desc_; }

 private:
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;
  const google::protobuf::Descriptor* desc_ = nullptr;
};

inline const google::protobuf::FieldDescriptor* Field(const google::protobuf::Message& m,
                                                      const std::string& name) {
  const auto* f = m.GetDescriptor()->FindFieldByName(name);
  EXPECT_NE(f, nullptr) << name;
  return f;
}

}  // namespace pg2bq::sink::testing
