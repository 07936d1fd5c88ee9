import Common
import Foundation

// The authentication of the REST front (issue #12): users in one file under etc/, bcrypt hashes, JWT
// tokens signed with a per-cluster secret, revocation, login blocking. Filled in by the auth work.
