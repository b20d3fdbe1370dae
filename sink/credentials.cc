#include "sink/credentials.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace pg2bq::sink {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kReadTimeout = std::chrono::seconds(30);

struct Url {
  std::string scheme_host;  // "https://oauth2.googleapis.com"
  std::string path;         // "/token"
};
Result<Url> SplitUrl(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return Status::InvalidArgument("not a URL: " + url);
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return Url{url, "/"};
  return Url{url.substr(0, slash), url.substr(slash)};
}

// Caches a token and refreshes it through Fetch() a minute before expiry.
class CachingTokenSource : public TokenSource {
 public:
  Result<std::string> AccessToken() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!token_.empty() && Clock::now() < refresh_at_) return token_;
    std::int64_t expires_in = 0;
    PG2BQ_ASSIGN_OR_RETURN(std::string token, Fetch(&expires_in));
    token_ = std::move(token);
    refresh_at_ = Clock::now() + std::chrono::seconds(std::max<std::int64_t>(0, expires_in - 60));
    return token_;
  }

 protected:
  virtual Result<std::string> Fetch(std::int64_t* expires_in) = 0;

  // POSTs a form to a token endpoint; returns access_token.
  static Result<std::string> PostForTokens(const std::string& token_uri,
                                           const httplib::Params& form, std::int64_t* expires_in) {
    PG2BQ_ASSIGN_OR_RETURN(Url url, SplitUrl(token_uri));
    httplib::Client client(url.scheme_host);
    client.set_connection_timeout(kConnectTimeout);
    client.set_read_timeout(kReadTimeout);
    client.set_write_timeout(kReadTimeout);
    auto res = client.Post(url.path, form);
    if (!res) {
      return Status::Unavailable("token endpoint " + token_uri + ": " +
                                 httplib::to_string(res.error()));
    }
    return ParseTokenResponse(token_uri, res->status, res->body, expires_in);
  }

  static Result<std::string> ParseTokenResponse(const std::string& where, int status,
                                                const std::string& body, std::int64_t* expires_in) {
    if (status != 200) {
      auto s = "token endpoint " + where + ": HTTP " + std::to_string(status) + ": " +
               body.substr(0, 500);
      return status >= 500 ? Status::Unavailable(s) : Status::PermissionDenied(s);
    }
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.contains("access_token") || !j["access_token"].is_string()) {
      return Status::Corruption("token endpoint " + where + ": no access_token in the response");
    }
    *expires_in = j.value("expires_in", 3600);
    return j["access_token"].get<std::string>();
  }

 private:
  std::mutex mu_;
  std::string token_;
  Clock::time_point refresh_at_{};
};

class StaticTokenSource : public TokenSource {
 public:
  explicit StaticTokenSource(std::string t) : token_(std::move(t)) {}
  Result<std::string> AccessToken() override { return token_; }

 private:
  std::string token_;
};

class ServiceAccountTokenSource : public CachingTokenSource {
 public:
  ServiceAccountTokenSource(nlohmann::json key, std::string scope)
      : key_(std::move(key)), scope_(std::move(scope)) {}

 protected:
  Result<std::string> Fetch(std::int64_t* expires_in) override {
    const std::string token_uri = key_.value("token_uri", "https://oauth2.googleapis.com/token");
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    PG2BQ_ASSIGN_OR_RETURN(
        std::string jwt,
        SignServiceAccountJwt(key_.value("client_email", ""), key_.value("private_key_id", ""),
                              key_.value("private_key", ""), scope_, token_uri, now));
    return PostForTokens(
        token_uri,
        {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", jwt}},
        expires_in);
  }

 private:
  nlohmann::json key_;
  std::string scope_;
};

class AuthorizedUserTokenSource : public CachingTokenSource {
 public:
  explicit AuthorizedUserTokenSource(nlohmann::json key) : key_(std::move(key)) {}

 protected:
  Result<std::string> Fetch(std::int64_t* expires_in) override {
    return PostForTokens(key_.value("token_uri", "https://oauth2.googleapis.com/token"),
                         {{"grant_type", "refresh_token"},
                          {"client_id", key_.value("client_id", "")},
                          {"client_secret", key_.value("client_secret", "")},
                          {"refresh_token", key_.value("refresh_token", "")}},
                         expires_in);
  }

 private:
  nlohmann::json key_;
};

class MetadataServerTokenSource : public CachingTokenSource {
 public:
  MetadataServerTokenSource(std::string host, std::string scope)
      : host_(std::move(host)), scope_(std::move(scope)) {}

 protected:
  Result<std::string> Fetch(std::int64_t* expires_in) override {
    httplib::Client client("http://" + host_);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    const std::string path =
        "/computeMetadata/v1/instance/service-accounts/default/token?scopes=" + scope_;
    auto res = client.Get(path, {{"Metadata-Flavor", "Google"}});
    if (!res) {
      return Status::Unavailable("metadata server " + host_ + ": " +
                                 httplib::to_string(res.error()) +
                                 " (no GOOGLE_APPLICATION_CREDENTIALS and not on Google Cloud?)");
    }
    return ParseTokenResponse("metadata server " + host_, res->status, res->body, expires_in);
  }

 private:
  std::string host_;
  std::string scope_;
};

}  // namespace

std::string Base64UrlEncode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) |
                            (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                            static_cast<std::uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (i + 1 < in.size()) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

Result<std::string> SignServiceAccountJwt(const std::string& client_email,
                                          const std::string& private_key_id,
                                          const std::string& private_key_pem,
                                          const std::string& scope, const std::string& audience,
                                          std::int64_t issued_at_unix) {
  if (client_email.empty() || private_key_pem.empty()) {
    return Status::InvalidArgument("service-account key: client_email or private_key missing");
  }
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!private_key_id.empty()) header["kid"] = private_key_id;
  const nlohmann::json claims = {{"iss", client_email},
                                 {"scope", scope},
                                 {"aud", audience},
                                 {"iat", issued_at_unix},
                                 {"exp", issued_at_unix + 3600}};
  const std::string signing_input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());

  BIO* bio = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio) BIO_free(bio);
  if (!pkey) return Status::InvalidArgument("service-account key: private_key is not a PEM key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig;
  std::size_t sig_len = 0;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestSign(ctx, nullptr, &sig_len,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()) == 1;
  if (ok) {
    sig.resize(sig_len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                        reinterpret_cast<const unsigned char*>(signing_input.data()),
                        signing_input.size()) == 1;
    sig.resize(sig_len);
  }
  if (ctx) EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  if (!ok) return Status::Internal("service-account key: RS256 signing failed");
  return signing_input + "." + Base64UrlEncode(sig);
}

std::shared_ptr<TokenSource> MakeStaticTokenSource(std::string token) {
  return std::make_shared<StaticTokenSource>(std::move(token));
}

Result<std::shared_ptr<TokenSource>> MakeTokenSourceFromFile(const std::string& path,
                                                             const std::string& scope) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("credentials file " + path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("credentials file " + path + ": not JSON");
  }
  const std::string type = j.value("type", "");
  if (type == "service_account") {
    return std::shared_ptr<TokenSource>(std::make_shared<ServiceAccountTokenSource>(j, scope));
  }
  if (type == "authorized_user") {
    return std::shared_ptr<TokenSource>(std::make_shared<AuthorizedUserTokenSource>(j));
  }
  return Status::InvalidArgument("credentials file " + path + ": type \"" + type +
                                 "\" is not supported (service_account, authorized_user)");
}

Result<std::shared_ptr<TokenSource>> MakeApplicationDefaultTokenSource(const std::string& scope) {
  if (const char* p = std::getenv("GOOGLE_APPLICATION_CREDENTIALS"); p && *p) {
    return MakeTokenSourceFromFile(p, scope);
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    const std::string gcloud =
        std::string(home) + "/.config/gcloud/application_default_credentials.json";
    if (std::ifstream(gcloud)) return MakeTokenSourceFromFile(gcloud, scope);
  }
  const char* host = std::getenv("GCE_METADATA_HOST");
  return std::shared_ptr<TokenSource>(std::make_shared<MetadataServerTokenSource>(
      host && *host ? host : "metadata.google.internal", scope));
}

}  // namespace pg2bq::sink
