// A real OpenID Connect provider for ctrlready's single sign-on tests: panva's oidc-provider, with its own
// login, consent and sign-out pages (plain node:http, no framework) and one confidential client that must use
// PKCE. RP-initiated logout is on: its end_session_endpoint asks "Sign out?" and, on yes, ends the session
// here and returns to the client's registered post-logout redirect URI.
//
// Environment:
//   PORT           loopback port to listen on; the issuer is http://127.0.0.1:PORT
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI   the one client (ctrlready)
//   ACCOUNTS       a JSON file: {"alice": {"password": "...", "email": "...", "groups": ["ctrlready:payments:lead"]}}
//                  read at every sign-in and every claims lookup, so a test changes a person's groups by
//                  rewriting it.
// Prints "listening <issuer>" once it accepts connections.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function accounts() {
  return JSON.parse(readFileSync(process.env.ACCOUNTS, 'utf8'));
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Authorization code with PKCE, required of this confidential client too.
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['ctrlready-tests-only'] },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const current = accounts()[id] || {};
        return {
          sub: id,
          preferred_username: id,
          name: current.name || id,
          email: current.email,
          email_verified: true,
          groups: current.groups || [],
        };
      },
    };
  },
});

// RP-initiated logout's pages (oidc-provider's own load web fonts from Google): "Sign out?", whose form
// oidc-provider makes (with its XSRF token), and the page shown when no post-logout redirect URI was given.
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = html('Test identity provider: sign out', `${form}
    <p>${escape(ctx.oidc.client?.clientId || 'An application')} asks to end your session here.</p>
    <button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
    <button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = html('Test identity provider: signed out', '<p>You are signed out.</p>');
}

function html(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function page(res, title, body, status = 200) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html(title, body));
}

function loginForm(res, uid, error = '') {
  page(res, 'Test identity provider: sign in', `${error ? `<p role="alert">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label>Login <input name="login" autocomplete="username"></label>
      <label>Secret <input name="secret" type="password" autocomplete="current-password"></label>
      <button type="submit">Log in</button>
    </form>`, error ? 401 : 200);
}

function consentForm(res, uid, details, clientId) {
  const scopes = (details.missingOIDCScope || []).map(escape).join(', ');
  page(res, 'Test identity provider: authorize', `<p>${escape(clientId)} asks for: ${scopes || 'nothing new'}</p>
    <form method="post" action="/interaction/${escape(uid)}/confirm"><button type="submit">Allow</button></form>`);
}

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return loginForm(res, uid);
    return consentForm(res, uid, prompt.details, params.client_id);
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const fields = await form(req);
    const account = accounts()[fields.get('login')];
    if (!account || account.password !== fields.get('secret')) return loginForm(res, uid, 'Wrong login or secret.');
    return provider.interactionFinished(req, res, { login: { accountId: fields.get('login') } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return page(res, 'Not here', '<p>Nothing to do at this step.</p>', 400);
}

const handler = provider.callback();

createServer(async (req, res) => {
  const match = new URL(req.url, issuer).pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/);
  if (!match) return handler(req, res);
  try {
    return await interaction(req, res, match[1], match[2]);
  } catch (error) {
    return page(res, 'Error', `<p>${escape(error.message)}</p>`, 400);
  }
}).listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
