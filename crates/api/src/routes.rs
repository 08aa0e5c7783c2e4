//! The route table: one place that says which method and path does what.
//! The local server and template.yaml's API routes are both checked against it.

/// What a request asks the service to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Health,
    UpsertPatient,
    GetPatient,
    ExportPatient,
    ErasePatient,
    ResendVerification,
    VerifyEmail,
    CreateAppointment,
    GetAppointment,
    ListAppointments,
    AssignAppointment,
    NotifyAppointment,
    ConfirmAppointment,
    RefuseAppointment,
    RescheduleAppointment,
    CompleteAppointment,
    NoShowAppointment,
    CancelAppointment,
    AppointmentHistory,
    ListSpecialities,
    UpsertDoctor,
    ListDoctors,
    GetDoctor,
    SetAvailability,
    GetAvailability,
    GetAgenda,
    RemoveSlot,
    SearchSlots,
    FreeDays,
    WhoAmI,
    ReviewAppointment,
    JoinAppointment,
    DoctorReviews,
    HideReview,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway path template: `{name}` matches one non-empty segment.
    pub path: &'static str,
    pub action: Action,
}

impl Route {
    /// API Gateway's route key, e.g. `POST /{country}/appointment`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/health",
        action: Action::Health,
    },
    Route {
        method: "POST",
        path: "/{country}/patient",
        action: Action::UpsertPatient,
    },
    Route {
        method: "GET",
        path: "/{country}/patient/{document}",
        action: Action::GetPatient,
    },
    Route {
        method: "GET",
        path: "/{country}/patient/{document}/export",
        action: Action::ExportPatient,
    },
    Route {
        method: "DELETE",
        path: "/{country}/patient/{document}",
        action: Action::ErasePatient,
    },
    Route {
        method: "POST",
        path: "/{country}/patient/{document}/email/verification",
        action: Action::ResendVerification,
    },
    Route {
        method: "POST",
        path: "/{country}/patient/{document}/email/verify",
        action: Action::VerifyEmail,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment",
        action: Action::CreateAppointment,
    },
    Route {
        method: "GET",
        path: "/{country}/appointment",
        action: Action::ListAppointments,
    },
    Route {
        method: "GET",
        path: "/{country}/appointment/{id}",
        action: Action::GetAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/assign",
        action: Action::AssignAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/notify",
        action: Action::NotifyAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/confirm",
        action: Action::ConfirmAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/refuse",
        action: Action::RefuseAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/reschedule",
        action: Action::RescheduleAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/complete",
        action: Action::CompleteAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/no-show",
        action: Action::NoShowAppointment,
    },
    Route {
        method: "GET",
        path: "/{country}/appointment/{id}/history",
        action: Action::AppointmentHistory,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/cancel",
        action: Action::CancelAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/review",
        action: Action::ReviewAppointment,
    },
    Route {
        method: "POST",
        path: "/{country}/appointment/{id}/join",
        action: Action::JoinAppointment,
    },
    Route {
        method: "GET",
        path: "/{country}/me",
        action: Action::WhoAmI,
    },
    Route {
        method: "GET",
        path: "/{country}/speciality",
        action: Action::ListSpecialities,
    },
    Route {
        method: "POST",
        path: "/{country}/doctor",
        action: Action::UpsertDoctor,
    },
    Route {
        method: "GET",
        path: "/{country}/doctor",
        action: Action::ListDoctors,
    },
    Route {
        method: "GET",
        path: "/{country}/doctor/{id}",
        action: Action::GetDoctor,
    },
    Route {
        method: "GET",
        path: "/{country}/doctor/{id}/review",
        action: Action::DoctorReviews,
    },
    Route {
        method: "POST",
        path: "/{country}/review/{review}/hide",
        action: Action::HideReview,
    },
    Route {
        method: "PUT",
        path: "/{country}/doctor/{id}/availability",
        action: Action::SetAvailability,
    },
    Route {
        method: "GET",
        path: "/{country}/doctor/{id}/availability",
        action: Action::GetAvailability,
    },
    Route {
        method: "GET",
        path: "/{country}/doctor/{id}/agenda",
        action: Action::GetAgenda,
    },
    Route {
        method: "DELETE",
        path: "/{country}/doctor/{id}/slot/{slot}",
        action: Action::RemoveSlot,
    },
    Route {
        method: "GET",
        path: "/{country}/slot",
        action: Action::SearchSlots,
    },
    Route {
        method: "GET",
        path: "/{country}/slot/days",
        action: Action::FreeDays,
    },
];

/// The outcome of matching a method and path against [`ROUTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        route: &'static Route,
        params: Vec<(&'static str, String)>,
    },
    /// The path exists, but not with this method.
    MethodNotAllowed {
        allowed: Vec<&'static str>,
    },
    NotFound,
}

pub fn match_route(method: &str, path: &str) -> RouteMatch {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method {
                return RouteMatch::Found { route, params };
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::MethodNotAllowed { allowed }
    }
}

fn match_path(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_owned()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_extracts_parameters() {
        let RouteMatch::Found { route, params } =
            match_route("POST", "/pe/appointment/20261122-45678912/assign")
        else {
            panic!("no match");
        };
        assert_eq!(route.action, Action::AssignAppointment);
        assert_eq!(
            params,
            vec![
                ("country", "pe".to_owned()),
                ("id", "20261122-45678912".to_owned())
            ]
        );
        assert!(
            matches!(match_route("GET", "/health"), RouteMatch::Found { route, .. } if route.action == Action::Health)
        );
        assert!(
            matches!(match_route("GET", "/cl/appointment"), RouteMatch::Found { route, .. } if route.action == Action::ListAppointments)
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(
            match_route("GET", "/pe/appointment/x/nope"),
            RouteMatch::NotFound
        );
        assert_eq!(match_route("GET", "/pe/appointment/"), RouteMatch::NotFound);
        assert_eq!(match_route("GET", "//appointment"), RouteMatch::NotFound);
        assert_eq!(
            match_route("DELETE", "/pe/appointment"),
            RouteMatch::MethodNotAllowed {
                allowed: vec!["POST", "GET"]
            }
        );
    }

    #[test]
    fn route_keys_are_unique() {
        let mut keys: Vec<String> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
