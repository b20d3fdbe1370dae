// Unit tests of what the writer builds on: retry classification and backoff, dead letters,
// schema diffs for table management, credentials (JWT checked by a loopback token endpoint),
// and the decoder adapter.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "sink/credentials.h"
#include "sink/dead_letter.h"
#include "sink/decoder_adapter.h"
#include "sink/retry_policy.h"
#include "sink/table_manager.h"

namespace pg2bq::sink {
namespace {

using nlohmann::json;

TEST(RetryPolicyTest, RetriesOnlyTransientCodes) {
  for (int code : {14, 8, 13, 10, 4})
    EXPECT_TRUE(IsRetryableCode(code)) << code;
  for (int code : {0, 1, 2, 3, 5, 6, 7, 9, 11, 12, 15, 16})
    EXPECT_FALSE(IsRetryableCode(code)) << code;
}

TEST(RetryPolicyTest, JitteredExponentialWithCap) {
  RetryPolicy p;
  std::mt19937_64 rng(1);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const auto d = BackoffDelay(p, 14, attempt, rng).count();
    const double full = std::min(100.0 * (1 << (attempt - 1)), 2000.0);
    EXPECT_GE(d, static_cast<long>(full / 2) - 1) << attempt;
    EXPECT_LE(d, static_cast<long>(full)) << attempt;
  }
  // RESOURCE_EXHAUSTED backs off harder.
  EXPECT_GE(BackoffDelay(p, 8, 1, rng).count(), 500);
  EXPECT_LE(BackoffDelay(p, 8, 30, rng).count(), 60000);
}

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/pg2bq_sink_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

TEST(DeadLetterTest, AppendsJsonLinesAndSyncs) {
  TempFile tmp;
  const std::string path = tmp.Path("dl.jsonl");
  {
    DeadLetterWriter w(path);
    DeadLetter l;
    l.table = "projects/p/datasets/d/tables/t";
    l.commit_lsn = 0x16B374D848;
    l.ordinal = 2;
    l.op = "UPSERT";
    l.source = "bigquery";
    l.reason = "bad \xff value";  // invalid UTF-8 must not make the record unwritable
    l.row_bytes = std::string_view("\x08\x01", 2);
    ASSERT_TRUE(w.Append(l).ok());
    ASSERT_TRUE(w.Sync().ok());
    ASSERT_TRUE(w.Append(l).ok());
    EXPECT_EQ(w.count(), 2u);
  }  // destructor syncs the second one
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto j = json::parse(line);
    EXPECT_EQ(j["commit_lsn"], "16/B374D848");
    EXPECT_EQ(j["change_sequence"], "00000016B374D848/0000000000000002");
    EXPECT_EQ(j["row_proto_base64"], "CAE=");
    ++n;
  }
  EXPECT_EQ(n, 2);
  DeadLetterWriter bad("/nonexistent-dir/x.jsonl");
  ASSERT_TRUE(bad.Append({}).ok());
  Status s = bad.Sync();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x.jsonl"), std::string::npos);
}

TEST(ColumnsToAddTest, AddsMissingRefusesTypeChanges) {
  json have = {{"fields",
                {{{"name", "id"}, {"type", "INTEGER"}, {"mode", "REQUIRED"}},
                 {{"name", "name"}, {"type", "STRING"}, {"mode", "NULLABLE"}}}}};
  json want = {{"fields",
                {{{"name", "id"}, {"type", "INT64"}, {"mode", "REQUIRED"}},
                 {{"name", "NAME"}, {"type", "STRING"}, {"mode", "NULLABLE"}},
                 {{"name", "email"}, {"type", "STRING"}, {"mode", "REQUIRED"}}}}};
  auto add = ColumnsToAdd(have, want);
  ASSERT_TRUE(add.ok());
  ASSERT_EQ(add->size(), 1u);
  EXPECT_EQ((*add)[0]["name"], "email");
  EXPECT_EQ((*add)[0]["mode"], "NULLABLE");  // new columns cannot be REQUIRED
  want["fields"][1]["type"] = "INT64";
  add = ColumnsToAdd(have, want);
  ASSERT_FALSE(add.ok());
  EXPECT_NE(add.status().message().find("column NAME is STRING in BigQuery"), std::string::npos)
      << add.status().ToString();
}

std::string NewRsaKeyPem(EVP_PKEY** key) {
  *key = EVP_RSA_gen(2048);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, *key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string Base64UrlDecode(std::string s) {
  for (char& c : s)
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4)
    s.push_back('=');
  std::string out(s.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!s.empty() && s.back() == '=') {  // EVP_DecodeBlock keeps padding bytes
    s.pop_back();
    out.pop_back();
  }
  return out;
}

TEST(CredentialsTest, ServiceAccountJwtIsSignedAndExchanged) {
  EVP_PKEY* key = nullptr;
  const std::string pem = NewRsaKeyPem(&key);
  ASSERT_NE(key, nullptr);

  httplib::Server server;
  std::atomic<int> calls{0};
  std::string verified_claims;
  server.Post("/token", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    const std::string jwt = req.get_param_value("assertion");
    const auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    const std::string input = jwt.substr(0, d2), sig = Base64UrlDecode(jwt.substr(d2 + 1));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok =
        req.get_param_value("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer" &&
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
      res.status = 401;
      res.set_content(R"({"error":"invalid_grant"})", "application/json");
      return;
    }
    verified_claims = Base64UrlDecode(jwt.substr(d1 + 1, d2 - d1 - 1));
    res.set_content(R"({"access_token":"tok-123","expires_in":3600,"token_type":"Bearer"})",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });

  TempFile tmp;
  const std::string key_path = tmp.Path("sa.json");
  const std::string token_uri = "http://127.0.0.1:" + std::to_string(port) + "/token";
  std::ofstream(key_path) << json{
      {"type", "service_account"},
      {"client_email", "agent@proj.iam.gserviceaccount.com"},
      {"private_key_id", "kid1"},
      {"private_key", pem},
      {"token_uri", token_uri}}.dump();
  auto source = MakeTokenSourceFromFile(key_path);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto token = (*source)->AccessToken();
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(*token, "tok-123");
  EXPECT_EQ(*(*source)->AccessToken(), "tok-123");
  EXPECT_EQ(calls.load(), 1);  // cached
  auto claims = json::parse(verified_claims);
  EXPECT_EQ(claims["iss"], "agent@proj.iam.gserviceaccount.com");
  EXPECT_EQ(claims["aud"], token_uri);
  EXPECT_EQ(claims["scope"], kBigQueryScope);
  EXPECT_EQ(claims["exp"].get<std::int64_t>() - claims["iat"].get<std::int64_t>(), 3600);

  // A key the endpoint does not accept: a clear error, not a crash.
  EVP_PKEY* other = nullptr;
  std::ofstream(key_path) << json{
      {"type", "service_account"},
      {"client_email", "x@y"},
      {"private_key", NewRsaKeyPem(&other)},
      {"token_uri", token_uri}}.dump();
  token = (*MakeTokenSourceFromFile(key_path))->AccessToken();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(token.status().message().find("HTTP 401"), std::string::npos);

  server.stop();
  t.join();
  EVP_PKEY_free(key);
  EVP_PKEY_free(other);
}

TEST(CredentialsTest, BadFilesAreClearErrors) {
  auto s = MakeTokenSourceFromFile("/nonexistent/key.json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("/nonexistent/key.json"), std::string::npos);
  TempFile tmp;
  std::ofstream(tmp.Path("k.json")) << R"({"type":"external_account"})";
  s = MakeTokenSourceFromFile(tmp.Path("k.json"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("external_account"), std::string::npos);
  EXPECT_FALSE(SignServiceAccountJwt("a@b", "", "not a pem", kBigQueryScope, "aud", 0).ok());
}

TEST(DecoderAdapterTest, RelationAndBinaryValues) {
  Relation rel;
  rel.oid = 42;
  rel.nspname = "public";
  rel.name = "t";
  rel.qualified_name = "public.t";
  rel.columns = {{"id", pg_oid::kInt4, -1, true},
                 {"amount", pg_oid::kNumeric, ((10 << 16) | 2) + 4, false},
                 {"qty", 70001, -1, false}};
  PgTypeRegistry types;
  PgTypeDescription dom;
  dom.oid = 70001;
  dom.typtype = 'd';
  dom.typbasetype = pg_oid::kInt8;
  dom.name = "public.positive_bigint";
  ASSERT_TRUE(types.Register(dom).ok());
  SourceRelation r = ToSourceRelation(rel, types);
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_TRUE(r.columns[0].is_key);
  EXPECT_EQ(r.columns[1].typmod, ((10 << 16) | 2) + 4);
  EXPECT_EQ(r.columns[2].base_type_oid, oid::kInt8);  // the domain maps as its base type

  TupleData tuple;
  tuple.columns = {{ColumnState::kBinary, std::string_view("\x00\x00\x00\x2a", 4)},
                   {ColumnState::kText, "12.50"},
                   {ColumnState::kUnchangedToast, {}}};
  TupleConverter conv;
  std::vector<SourceValue> values;
  Status s = conv.Convert(rel, types, tuple, &values);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(values[0].state, ValueState::kBinary);  // decoded by the row encoder
  EXPECT_EQ(values[0].bytes, std::string_view("\x00\x00\x00\x2a", 4));
  EXPECT_EQ(values[1].bytes, "12.50");
  EXPECT_EQ(values[2].state, ValueState::kUnchangedToast);
  tuple.columns.pop_back();  // a tuple that does not match its relation
  s = conv.Convert(rel, types, tuple, &values);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("public.t"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace pg2bq::sink
