//! Users (list, search, CSV export, create console or programmatic users, details with their
//! groups, policies and API tokens), groups, policies (a JSON editor whose errors show in
//! place) and the person's own API tokens (the secret is shown once).

use super::client::{ApiClient, Failure, Payload, flag, items, text};
use super::layout::{Errors, Nav, can, failure_page, invalid, page, q};
use super::session::Session;
use crate::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use orgplane_domain::access::Action;
use serde::Deserialize;
use serde_json::{Value, json};

/// A form whose fields may repeat (checkbox lists), as pairs in order.
pub struct Fields(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        Ok(Fields(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

impl Fields {
    pub fn one(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub kind: String,
    pub role: String,
    pub mfa: bool,
    pub groups: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub struct Users {
    nav: Nav,
    users: Vec<UserRow>,
    search: String,
    can_create: bool,
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn users(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Query(query): Query<SearchQuery>,
) -> Response {
    let nav = nav!(&state, &api, &s, "users");
    let list = match api.items(&s.who, "/setup/organization/user").await {
        Ok(list) => list,
        Err(f) => return failure_page(&s, &f),
    };
    let needle = query.q.trim().to_lowercase();
    let users = list
        .iter()
        .map(|u| UserRow {
            id: text(u, "userId"),
            name: text(u, "username"),
            email: text(u, "email"),
            kind: text(u, "type"),
            role: text(u, "organizationRole"),
            mfa: flag(u, "mfa"),
            groups: u
                .get("groupNames")
                .and_then(Value::as_array)
                .map(|g| g.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        })
        .filter(|u| needle.is_empty() || format!("{} {}", u.name, u.email).to_lowercase().contains(&needle))
        .collect();
    let can_create = can(&state, &s, Action::CreateUser, None).await;
    page(Users { nav, users, search: query.q, can_create })
}

/// The API's CSV export, passed through.
pub async fn users_csv(Extension(api): Extension<ApiClient>, s: Session) -> Response {
    api.raw(&s.who, Method::GET, "/setup/organization/user?format=csv", Payload::None).await
}

#[derive(Template)]
#[template(path = "console/user_new.html")]
pub struct NewUser {
    nav: Nav,
    kind: String,
    fields: Vec<(String, String)>,
    errors: Errors,
    /// After creating a programmatic user: its token, shown once.
    created_token: Option<(String, String)>,
}

impl NewUser {
    fn value(&self, name: &str) -> String {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

pub async fn new_user_page(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    let nav = nav!(&state, &api, &s, "users");
    page(NewUser { nav, kind: "console".into(), fields: Vec::new(), errors: Errors::default(), created_token: None })
}

/// Creates a console user (`POST /setup/user`) or a programmatic user with a role on the
/// current account (`POST /setup/user/programmatic`, whose token is shown once).
pub async fn new_user(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let kind = form.one("kind");
    let nav = nav!(&state, &api, &s, "users");
    let result = if kind == "programmatic" {
        let body = json!({
            "name": form.one("name"),
            "description": Some(form.one("description")).filter(|d| !d.is_empty()),
            "accounts": [{ "id": nav.account_id, "role": form.one("role") }],
        });
        api.call(&s.who, Method::POST, "/setup/user/programmatic", Payload::Json(body)).await
    } else {
        let password = form.one("password");
        let body = json!({
            "firstName": form.one("firstName"),
            "lastName": form.one("lastName"),
            "email": form.one("email"),
            "password": Some(password).filter(|p| !p.is_empty()),
            "role": form.one("role"),
        });
        api.call(&s.who, Method::POST, "/setup/user", Payload::Json(body)).await
    };
    match result {
        Ok(response) if kind == "programmatic" => {
            let created = items(&response).into_iter().next().unwrap_or_default();
            page(NewUser {
                nav,
                kind,
                fields: Vec::new(),
                errors: Errors::default(),
                created_token: Some((text(&created, "id"), text(&created, "token"))),
            })
        }
        Ok(response) => {
            let id = items(&response).first().map(|u| text(u, "userId")).unwrap_or_default();
            super::session::redirect(&s.headers, &format!("/console/users/{id}"))
        }
        Err(f) => {
            let errors = Errors::from_failure(
                &f,
                &["firstName", "lastName", "email", "password", "role", "name", "description"],
            );
            let fields = form.0.into_iter().filter(|(k, _)| k != "password" && k != "_csrf").collect();
            invalid(NewUser { nav, kind, fields, errors, created_token: None })
        }
    }
}

pub struct Named {
    pub id: String,
    pub name: String,
    pub detail: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "console/user.html")]
pub struct UserPage {
    nav: Nav,
    id: String,
    name: String,
    email: String,
    kind: String,
    role: String,
    mfa: bool,
    groups: Vec<Named>,
    policies: Vec<Named>,
    accounts: Vec<Named>,
    tokens: Vec<Named>,
    can_attach: bool,
    can_edit: bool,
    can_delete: bool,
    can_reset_mfa: bool,
    errors: Errors,
    notice: Option<String>,
}

pub async fn user(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    user_page(&state, &api, &s, &id, Errors::default(), None).await
}

async fn user_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    id: &str,
    errors: Errors,
    notice: Option<String>,
) -> Response {
    let nav = nav!(state, api, s, "users");
    let u = match api.items(&s.who, &format!("/setup/user/{}", q(id))).await {
        Ok(list) => list.into_iter().next().unwrap_or_default(),
        Err(f) => return failure_page(s, &f),
    };
    let all_groups = api.items(&s.who, "/setup/access/userGroup").await.unwrap_or_default();
    let member_of: Vec<String> = strings(&u, "userGroupIds");
    let groups = all_groups
        .iter()
        .map(|g| Named {
            id: text(g, "id"),
            name: text(g, "name"),
            detail: text(g, "description"),
            checked: member_of.contains(&text(g, "id")),
        })
        .collect();
    let list = |key: &str, f: &dyn Fn(&Value) -> Named| -> Vec<Named> {
        u.get(key).and_then(Value::as_array).map(|a| a.iter().map(f).collect()).unwrap_or_default()
    };
    let policies = list("policies", &|p| Named {
        id: text(p, "policyId"),
        name: text(p, "policyName"),
        detail: strings(p, "accountIds").join(", "),
        checked: true,
    });
    let accounts =
        list("accounts", &|a| Named { id: text(a, "id"), name: text(a, "role"), detail: String::new(), checked: true });
    let tokens = list("tokens", &|t| Named {
        id: text(t, "tokenId"),
        name: text(t, "name"),
        detail: format!("…{} · created {}", text(t, "tokenLastDigits"), text(t, "createdAt")),
        checked: true,
    });
    let res = UserPage {
        can_attach: !nav.account_id.is_empty() && can(state, s, Action::AttachAccountUser, Some(&nav.account_id)).await,
        can_edit: can(state, s, Action::UpdateUser, None).await,
        can_delete: can(state, s, Action::DeleteUser, None).await && id != s.caller.user_id.as_str(),
        can_reset_mfa: s.caller.is_admin() && flag(&u, "mfa"),
        nav,
        id: text(&u, "userId"),
        name: text(&u, "name"),
        email: text(&u, "email"),
        kind: text(&u, "type"),
        role: text(&u, "organizationRole"),
        mfa: flag(&u, "mfa"),
        groups,
        policies,
        accounts,
        tokens,
        notice,
        errors,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Gives the user a role on the current account (`POST /setup/account/{accountId}/user`).
pub async fn attach_user(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    let account = form.one("accountId");
    let body = json!({ "userId": id, "role": form.one("role") });
    let uri = format!("/setup/account/{}/user", q(&account));
    match api.call(&s.who, Method::POST, &uri, Payload::Json(body)).await {
        Ok(_) => user_page(&state, &api, &s, &id, Errors::default(), Some(format!("Attached to {account}."))).await,
        Err(f) => user_page(&state, &api, &s, &id, Errors::from_failure(&f, &["role"]), None).await,
    }
}

/// Replaces the user's groups (`PUT /setup/user/{userId}/userGroupMapping`).
pub async fn set_user_groups(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    let body = json!({ "userGroupIds": form.all("group") });
    let uri = format!("/setup/user/{}/userGroupMapping", q(&id));
    match api.call(&s.who, Method::PUT, &uri, Payload::Json(body)).await {
        Ok(_) => user_page(&state, &api, &s, &id, Errors::default(), Some("Groups saved.".into())).await,
        Err(f) => user_page(&state, &api, &s, &id, Errors::from_failure(&f, &[]), None).await,
    }
}

/// An admin resets a member's second factor (`DELETE /setup/user/{userId}/mfa`, audited).
pub async fn reset_mfa(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match api.call(&s.who, Method::DELETE, &format!("/setup/user/{}/mfa", q(&id)), Payload::None).await {
        Ok(_) => {
            user_page(&state, &api, &s, &id, Errors::default(), Some("Their second factor was reset.".into())).await
        }
        Err(f) => user_page(&state, &api, &s, &id, Errors::from_failure(&f, &[]), None).await,
    }
}

pub async fn delete_user(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match api.call(&s.who, Method::DELETE, &format!("/setup/user/{}", q(&id)), Payload::None).await {
        Ok(_) => super::session::redirect(&s.headers, "/console/users"),
        Err(f) => user_page(&state, &api, &s, &id, Errors::from_failure(&f, &[]), None).await,
    }
}

#[derive(Template)]
#[template(path = "console/groups.html")]
pub struct Groups {
    nav: Nav,
    groups: Vec<Named>,
    can_create: bool,
    name: String,
    description: String,
    errors: Errors,
}

pub async fn groups(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    groups_page(&state, &api, &s, String::new(), String::new(), Errors::default()).await
}

async fn groups_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    name: String,
    description: String,
    errors: Errors,
) -> Response {
    let nav = nav!(state, api, s, "groups");
    let list = match api.items(&s.who, "/setup/access/userGroup").await {
        Ok(list) => list,
        Err(f) => return failure_page(s, &f),
    };
    let groups = list
        .iter()
        .map(|g| Named {
            id: text(g, "id"),
            name: text(g, "name"),
            detail: format!("{} members · {}", text(g, "usersCount"), strings(g, "policyNames").join(", ")),
            checked: false,
        })
        .collect();
    let can_create = can(state, s, Action::CreateUserGroup, None).await;
    let res = Groups { nav, groups, can_create, name, description, errors };
    if res.errors.any() { invalid(res) } else { page(res) }
}

pub async fn create_group(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let (name, description) = (form.one("name"), form.one("description"));
    let body = json!({ "name": name, "description": Some(&description).filter(|d| !d.is_empty()) });
    match api.call(&s.who, Method::POST, "/setup/access/userGroup", Payload::Json(body)).await {
        Ok(response) => {
            let id = items(&response).first().map(|g| text(g, "id")).unwrap_or_default();
            super::session::redirect(&s.headers, &format!("/console/groups/{id}"))
        }
        Err(f) => {
            groups_page(&state, &api, &s, name, description, Errors::from_failure(&f, &["name", "description"])).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/group.html")]
pub struct GroupPage {
    nav: Nav,
    id: String,
    name: String,
    description: String,
    members: Vec<Named>,
    policies: Vec<Named>,
    can_edit: bool,
    errors: Errors,
    notice: Option<String>,
}

pub async fn group(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    group_page(&state, &api, &s, &id, Errors::default(), None).await
}

async fn group_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    id: &str,
    errors: Errors,
    notice: Option<String>,
) -> Response {
    let nav = nav!(state, api, s, "groups");
    let g = match api.items(&s.who, &format!("/setup/access/userGroup/{}", q(id))).await {
        Ok(list) => list.into_iter().next().unwrap_or_default(),
        Err(f) => return failure_page(s, &f),
    };
    let member_ids = strings(&g, "userIds");
    let people = api.items(&s.who, "/setup/organization/user").await.unwrap_or_default();
    let members = people
        .iter()
        .map(|u| Named {
            id: text(u, "userId"),
            name: text(u, "username"),
            detail: text(u, "email"),
            checked: member_ids.contains(&text(u, "userId")),
        })
        .collect();
    let attached: Vec<String> =
        g.get("policies").and_then(Value::as_array).into_iter().flatten().map(|p| text(p, "policyId")).collect();
    let mut policies = Vec::new();
    for uri in ["/setup/organization/policy", "/setup/access/policy"] {
        for p in api.items(&s.who, uri).await.unwrap_or_default() {
            let pid = text(&p, "id");
            if !policies.iter().any(|n: &Named| n.id == pid) {
                policies.push(Named {
                    checked: attached.contains(&pid),
                    name: text(&p, "name"),
                    detail: text(&p, "type"),
                    id: pid,
                });
            }
        }
    }
    let can_edit = can(state, s, Action::UpdateUserGroup, None).await;
    let res = GroupPage {
        nav,
        id: text(&g, "id"),
        name: text(&g, "name"),
        description: text(&g, "description"),
        members,
        policies,
        can_edit,
        errors,
        notice,
    };
    if res.errors.any() { invalid(res) } else { page(res) }
}

/// Saves a group's name, members and policies (account policies apply to every account).
pub async fn update_group(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    let base = format!("/setup/access/userGroup/{}", q(&id));
    let details = json!({ "name": form.one("name"), "description": form.one("description") });
    let members = json!({ "userIds": form.all("member") });
    let policies: Vec<Value> = form
        .all("policy")
        .into_iter()
        .map(|p| {
            let account_level = form.0.iter().any(|(k, v)| k == "accountPolicy" && *v == p);
            if account_level { json!({ "policyId": p, "accountIds": ["*"] }) } else { json!({ "policyId": p }) }
        })
        .collect();
    let steps = [
        (base.clone(), details),
        (format!("{base}/userMapping"), members),
        (format!("{base}/policyMapping"), json!({ "policies": policies })),
    ];
    for (uri, body) in steps {
        if let Err(f) = api.call(&s.who, Method::PUT, &uri, Payload::Json(body)).await {
            return group_page(&state, &api, &s, &id, Errors::from_failure(&f, &["name", "description"]), None).await;
        }
    }
    group_page(&state, &api, &s, &id, Errors::default(), Some("Group saved.".into())).await
}

pub async fn delete_group(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match api.call(&s.who, Method::DELETE, &format!("/setup/access/userGroup/{}", q(&id)), Payload::None).await {
        Ok(_) => super::session::redirect(&s.headers, "/console/groups"),
        Err(f) => group_page(&state, &api, &s, &id, Errors::from_failure(&f, &[]), None).await,
    }
}

#[derive(Template)]
#[template(path = "console/policies.html")]
pub struct Policies {
    nav: Nav,
    policies: Vec<Named>,
    can_create: bool,
}

pub async fn policies(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    let nav = nav!(&state, &api, &s, "policies");
    let mut policies = Vec::new();
    for uri in ["/setup/organization/policy", "/setup/access/policy"] {
        match api.items(&s.who, uri).await {
            Ok(list) => {
                for p in list {
                    let id = text(&p, "id");
                    if !policies.iter().any(|n: &Named| n.id == id) {
                        policies.push(Named { name: text(&p, "name"), detail: text(&p, "type"), checked: false, id });
                    }
                }
            }
            Err(f) => return failure_page(&s, &f),
        }
    }
    let can_create = can(&state, &s, Action::CreatePolicy, None).await;
    page(Policies { nav, policies, can_create })
}

#[derive(Template)]
#[template(path = "console/policy.html")]
pub struct PolicyPage {
    nav: Nav,
    /// Empty for a new policy.
    id: String,
    name: String,
    description: String,
    kind: String,
    content: String,
    builtin: bool,
    can_save: bool,
    errors: Errors,
}

const EXAMPLE_POLICY: &str = r#"{
  "statements": [
    {
      "effect": "ALLOW",
      "actions": ["setup:describe*", "setup:list*"],
      "resources": ["*"]
    }
  ]
}"#;

pub async fn new_policy_page(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
) -> Response {
    let nav = nav!(&state, &api, &s, "policies");
    let can_save = can(&state, &s, Action::CreatePolicy, None).await;
    page(PolicyPage {
        nav,
        id: String::new(),
        name: String::new(),
        description: String::new(),
        kind: "ACCOUNT".into(),
        content: EXAMPLE_POLICY.into(),
        builtin: false,
        can_save,
        errors: Errors::default(),
    })
}

pub async fn policy(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let nav = nav!(&state, &api, &s, "policies");
    let mut found = None;
    for uri in ["/setup/organization/policy", "/setup/access/policy"] {
        if let Ok(list) = api.items(&s.who, uri).await {
            found = found.or_else(|| list.into_iter().find(|p| text(p, "id") == id));
        }
    }
    let Some(p) = found else {
        return failure_page(
            &s,
            &Failure {
                status: 404,
                code: "POLICY_DOESNT_EXIST".into(),
                message: "policy not found".into(),
                field: None,
            },
        );
    };
    let kind = text(&p, "type");
    let builtin = kind.starts_with("SPOT_MANAGED");
    let can_save = !builtin && can(&state, &s, Action::UpdatePolicy, None).await;
    page(PolicyPage {
        nav,
        id,
        name: text(&p, "name"),
        description: text(&p, "description"),
        content: serde_json::to_string_pretty(p.get("policyContent").unwrap_or(&Value::Null)).unwrap_or_default(),
        kind,
        builtin,
        can_save,
        errors: Errors::default(),
    })
}

pub async fn save_policy(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    save(&state, &api, &s, None, form).await
}

pub async fn save_policy_id(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    save(&state, &api, &s, Some(id), form).await
}

/// Creates or updates a policy. The JSON is checked here only for being JSON; the API
/// validates the document and its errors show beside the editor.
async fn save(state: &AppState, api: &ApiClient, s: &Session, id: Option<String>, form: Fields) -> Response {
    let (name, description, kind, content) =
        (form.one("name"), form.one("description"), form.one("type"), form.one("policyContent"));
    let parsed: Result<Value, String> = serde_json::from_str(&content).map_err(|e| format!("not valid JSON: {e}"));
    let result = match parsed {
        Err(message) => Err(Failure {
            status: 400,
            code: "INVALID_JSON".into(),
            message,
            field: Some("body.policy.policyContent".into()),
        }),
        Ok(document) => {
            let mut policy = json!({ "name": name, "description": description, "policyContent": document });
            let (method, uri) = match &id {
                Some(id) => (Method::PUT, format!("/setup/access/policy/{}", q(id))),
                None => {
                    policy["type"] = json!(kind);
                    (Method::POST, "/setup/access/policy".to_string())
                }
            };
            api.call(&s.who, method, &uri, Payload::Json(json!({ "policy": policy }))).await
        }
    };
    match result {
        Ok(response) => {
            let saved = id.unwrap_or_else(|| items(&response).first().map(|p| text(p, "id")).unwrap_or_default());
            super::session::redirect(&s.headers, &format!("/console/policies/{}", q(&saved)))
        }
        Err(f) => {
            let nav = nav!(state, api, s, "policies");
            // Errors inside the document (`body.policy.policyContent.statements[0]…`) go to the editor.
            let errors = match &f.field {
                Some(field) if field.contains("policyContent") => {
                    Errors::field("policyContent", format!("{} ({field})", f.message))
                }
                _ => Errors::from_failure(&f, &["name", "description", "type"]),
            };
            invalid(PolicyPage {
                nav,
                id: id.unwrap_or_default(),
                name,
                description,
                kind,
                content,
                builtin: false,
                can_save: true,
                errors,
            })
        }
    }
}

pub async fn delete_policy(Extension(api): Extension<ApiClient>, s: Session, Path(id): Path<String>) -> Response {
    match api.call(&s.who, Method::DELETE, &format!("/setup/access/policy/{}", q(&id)), Payload::None).await {
        Ok(_) => super::session::redirect(&s.headers, "/console/policies"),
        Err(f) => failure_page(&s, &f),
    }
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
pub struct Tokens {
    nav: Nav,
    tokens: Vec<Named>,
    name: String,
    errors: Errors,
    /// The token just created: its secret, shown this once.
    created: Option<String>,
}

pub async fn tokens(State(state): State<AppState>, Extension(api): Extension<ApiClient>, s: Session) -> Response {
    tokens_page(&state, &api, &s, String::new(), Errors::default(), None).await
}

async fn tokens_page(
    state: &AppState,
    api: &ApiClient,
    s: &Session,
    name: String,
    errors: Errors,
    created: Option<String>,
) -> Response {
    let nav = nav!(state, api, s, "tokens");
    let list = match api.items(&s.who, "/auth/tokens").await {
        Ok(list) => list,
        Err(f) => return failure_page(s, &f),
    };
    let tokens = list
        .iter()
        .map(|t| Named {
            id: text(t, "tokenId"),
            name: text(t, "name"),
            detail: format!(
                "…{} · created {}{}",
                text(t, "tokenLastDigits"),
                text(t, "createdAt"),
                Some(text(t, "lastUsedAt"))
                    .filter(|l| !l.is_empty())
                    .map(|l| format!(" · last used {l}"))
                    .unwrap_or_default()
            ),
            checked: flag(t, "readOnly"),
        })
        .collect();
    let res = Tokens { nav, tokens, name, errors, created };
    if res.errors.any() { invalid(res) } else { page(res) }
}

pub async fn create_token(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    form: Fields,
) -> Response {
    let name = form.one("name");
    let mut body = json!({ "name": name, "readOnly": form.one("readOnly") == "on" });
    let expires = form.one("expiresAt");
    if !expires.is_empty() {
        body["expiresAt"] = json!(format!("{expires}T00:00:00.000Z"));
    }
    match api.call(&s.who, Method::POST, "/auth/tokens", Payload::Json(body)).await {
        Ok(response) => {
            let secret = items(&response).first().map(|t| text(t, "token")).unwrap_or_default();
            tokens_page(&state, &api, &s, String::new(), Errors::default(), Some(secret)).await
        }
        Err(f) => tokens_page(&state, &api, &s, name, Errors::from_failure(&f, &["name", "expiresAt"]), None).await,
    }
}

pub async fn delete_token(
    State(state): State<AppState>,
    Extension(api): Extension<ApiClient>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match api.call(&s.who, Method::DELETE, &format!("/auth/tokens/{}", q(&id)), Payload::None).await {
        Ok(_) => tokens_page(&state, &api, &s, String::new(), Errors::default(), None).await,
        Err(f) => tokens_page(&state, &api, &s, String::new(), Errors::from_failure(&f, &[]), None).await,
    }
}
