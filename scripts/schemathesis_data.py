#!/usr/bin/env python3
"""The data schemathesis needs to reach the whole lifecycle with real ids.

Random ids only ever find nothing (404), so the test command gives the run
appointments in the states each answer needs, and scripts/schemathesis.toml
points those operations at them:

  schemathesis_data.py seed OUT_DIR
      seed/ plus one file of visits that have already started (an assigned
      appointment on yesterday's slot cannot be booked through the API), so
      complete and no-show can succeed, and a completed one to review, and a patient whose address is not
      verified yet, for the verification routes, and one for the erasure (so
      that it erases no one the other operations need). The server loads OUT_DIR at its first start.
  schemathesis_data.py api URL TOKEN REVIEWER_TOKEN
      through the API as an admin: a doctor who confirms bookings, their plan,
      and bookings waiting for them (to confirm, refuse and reschedule), and a
      free slot to take out; as the completed visit's patient, its review (to
      hide). Prints the ids as shell assignments to export.
"""

import datetime
import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Peru keeps UTC-5 all year.
LIMA = datetime.timezone(datetime.timedelta(hours=-5))
# A doctor of the past visits (seeded) and one who confirms bookings (registered).
PAST_DOCTOR = "pe-cardiologia-7799002"
CONFIRMING_DOCTOR = "7799001"
# The patient of the completed visit, who reviews it.
REVIEWER = "71000003"
# A patient with an address not verified yet, and one to erase.
UNVERIFIED = "71000009"
ERASABLE = "71000008"


def s(text):
    return {"S": text}


def seed(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for file in sorted((ROOT / "seed").glob("*.json")):
        shutil.copy(file, out / file.name)
    yesterday = datetime.datetime.now(LIMA).date() - datetime.timedelta(days=1)
    doctors = [{"PutRequest": {"Item": {
        "id": s(PAST_DOCTOR), "country": s("pe"), "document": s("7799002"),
        "name": s("Dr. Pasado Ayer"), "speciality": s("cardiologia")}}}]
    slots, patients, appointments = [], [], []
    for n, (hour, status) in enumerate([(9, "assigned"), (10, "assigned"), (11, "completed")]):
        start = datetime.datetime.combine(yesterday, datetime.time(hour), LIMA)
        slot = f"{PAST_DOCTOR}-{int(start.timestamp())}"
        document = f"7100000{n + 1}"
        appointment = f"{yesterday:%Y%m%d}-{document}"
        created = (start - datetime.timedelta(days=1)).astimezone(datetime.timezone.utc)
        stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        slots.append({"PutRequest": {"Item": {
            "id": s(slot), "date": s(f"{yesterday}"), "doctor": s(PAST_DOCTOR),
            "isAvailable": {"BOOL": False}, "time": s(f"{hour:02}:00"),
            "appointment": s(appointment)}}})
        patients.append({"PutRequest": {"Item": {
            "document": s(document), "name": s(f"Paciente Ayer {n + 1}")}}})
        appointments.append({"PutRequest": {"Item": {
            "id": s(appointment), "document": s(document), "patient": s(f"Paciente Ayer {n + 1}"),
            "speciality": s("cardiologia"), "status": s(status), "created_at": s(stamp),
            "date": s(slot), "update_at": s(stamp)}}})
    # A patient whose address waits for its code: the verification routes' target.
    patients.append({"PutRequest": {"Item": {
        "document": s(UNVERIFIED), "name": s("Paciente Sin Verificar"),
        "email": s("sin.verificar@example.pe"), "email_verified": {"BOOL": False}}}})
    patients.append({"PutRequest": {"Item": {
        "document": s(ERASABLE), "name": s("Paciente Por Borrar")}}})
    batch = {"doctor": doctors, "appointment-doctor": slots, "pe-patient": patients,
             "pe-appointment": appointments}
    (out / "900-schemathesis-past-visits.json").write_text(json.dumps(batch, indent=1))
    print(f"SCHEMATHESIS_COMPLETE_ID={appointments[0]['PutRequest']['Item']['id']['S']}")
    print(f"SCHEMATHESIS_NO_SHOW_ID={appointments[1]['PutRequest']['Item']['id']['S']}")
    print(f"SCHEMATHESIS_REVIEW_ID={appointments[2]['PutRequest']['Item']['id']['S']}")
    print(f"SCHEMATHESIS_REVIEWER={REVIEWER}")
    print(f"SCHEMATHESIS_UNVERIFIED_DOCUMENT={UNVERIFIED}")
    print(f"SCHEMATHESIS_ERASABLE_DOCUMENT={ERASABLE}")


def call(url, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def api(url, token, reviewer_token):
    today = datetime.datetime.now(LIMA).date()
    doctor = call(url, token, "POST", "/pe/doctor", {
        "document": CONFIRMING_DOCTOR, "name": "Dra. Confirma Siempre",
        "speciality": "Cardiología", "requires_confirmation": True})["id"]
    weekly = [{"weekday": day, "from": "08:00", "to": "20:00"}
              for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    call(url, token, "PUT", f"/pe/doctor/{doctor}/availability",
         {"slot_minutes": 30, "weekly": weekly, "valid_from": f"{today}"})
    free = call(url, token, "GET",
                f"/pe/slot?speciality=cardiologia&doctor={doctor}&from={today + datetime.timedelta(days=2)}&limit=40")
    slots = [item["id"] for item in free["items"]]
    waiting = {}
    for n, answer in enumerate(["CONFIRM", "REFUSE", "RESCHEDULE"]):
        document = f"7200000{n + 1}"
        call(url, token, "POST", "/pe/patient", {
            "document": document, "name": f"Paciente Espera {n + 1}",
            "email": f"espera{n + 1}@example.pe"})
        appointment = call(url, token, "POST", "/pe/appointment",
                           {"document": document, "speciality": "cardiologia"})["id"]
        booked = call(url, token, "POST", f"/pe/appointment/{appointment}/assign", {"slot": slots[n]})
        assert booked["status"] == "pending", booked
        waiting[answer] = appointment
    for answer, appointment in waiting.items():
        print(f"SCHEMATHESIS_{answer}_ID={appointment}")
    print(f"SCHEMATHESIS_DOCTOR_ID={doctor}")
    # The last of the page: the run's own bookings take the earliest first.
    print(f"SCHEMATHESIS_FREE_SLOT={slots[-1]}")
    # The completed visit the seed step made (its ids are in the environment).
    visit = os.environ["SCHEMATHESIS_REVIEW_ID"]
    review = call(url, reviewer_token, "POST", f"/pe/appointment/{visit}/review",
                  {"stars": 4, "comment": "Puntual."})
    print(f"SCHEMATHESIS_REVIEW={review['id']}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "seed":
        seed(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "api":
        api(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
