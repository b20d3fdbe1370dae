// OAuth2 access tokens for BigQuery (gRPC and REST share one source): Application Default
// Credentials -- a service-account key file (JWT signed RS256, exchanged at its token_uri),
// an authorized-user file (refresh token), or the GCE/GKE metadata server. Tokens are cached
// until a minute before they expire. Every network call has a timeout.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace pg2bq::sink {

inline constexpr const char* kBigQueryScope = "https://www.googleapis.com/auth/bigquery";

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A valid bearer token (refreshed when needed). Thread-safe.
  virtual Result<std::string> AccessToken() = 0;
};

// A fixed token (tests; an externally managed token).
std::shared_ptr<TokenSource> MakeStaticTokenSource(std::string token);

// From a JSON key file ("service_account" or "authorized_user").
Result<std::shared_ptr<TokenSource>> MakeTokenSourceFromFile(
    const std::string& path, const std::string& scope = kBigQueryScope);

// ADC order: $GOOGLE_APPLICATION_CREDENTIALS,
// ~/.config/gcloud/application_default_credentials.json, then the metadata server
// ($GCE_METADATA_HOST or metadata.google.internal).
Result<std::shared_ptr<TokenSource>> MakeApplicationDefaultTokenSource(
    const std::string& scope = kBigQueryScope);

// The RS256 JWT a service account presents (exposed for tests).
Result<std::string> SignServiceAccountJwt(const std::string& client_email,
                                          const std::string& private_key_id,
                                          const std::string& private_key_pem,
                                          const std::string& scope, const std::string& audience,
                                          std::int64_t issued_at_unix);

std::string Base64UrlEncode(std::string_view bytes);

}  // namespace pg2bq::sink
