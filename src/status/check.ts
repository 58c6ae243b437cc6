/**
 * Checks a credential's status list entries; returns why it is not valid, or null.
 * (Replaced by the status-list implementation.)
 */
export async function checkCredentialStatus(_env: Env, credential: Record<string, unknown>): Promise<string | null> {
  if (credential.credentialStatus === undefined) return null;
  return "status lists are not supported yet";
}
