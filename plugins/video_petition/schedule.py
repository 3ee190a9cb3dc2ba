"""The reception schedule as services of the appointments engine.

Leaders' video reception days (领导视频接访日) and departments' slots are bookable services: a
center admin sets up the leaders and department officials as resources with their reception hours
(/admin/bookings, like any service). A citizen who books one gets a video reception *session*
(``booking_event`` → ``on_booking``), then names the matter on the next step
(``next_step_url``); staff check the citizen's ID and approve or refuse it like any request. The
host is the booked resource's staff member; for a department slot, that member's department is the
summoned department.
"""

from __future__ import annotations

from portal import clock
from portal.db import insert, raw
from portal.plugin_api import Service

__all__ = ["DEPARTMENT_KEY", "LEADER_KEY", "SERVICES", "on_booking"]

LEADER_KEY = "video_petition.leader"
DEPARTMENT_KEY = "video_petition.department"
NEXT_STEP = "/m/video_petition/c/{center_code}/request?booking={booking_id}"

SERVICES = (
    Service(LEADER_KEY, "领导视频接访", duration_minutes=30, provider_role="leader",
            bring="居民身份证（视频中核验）；与事项有关的材料可在视频中出示。", booking_window_days=30,
            min_notice_minutes=24 * 60, next_step_label="填写视频接访申请（说明事项）", next_step_url=NEXT_STEP),
    Service(DEPARTMENT_KEY, "部门视频接访", duration_minutes=30, provider_role="department_officer",
            bring="居民身份证（视频中核验）；与事项有关的材料可在视频中出示。", booking_window_days=14,
            min_notice_minutes=24 * 60, next_step_label="填写视频接访申请（说明事项）", next_step_url=NEXT_STEP),
)
SERVICE_OF = {LEADER_KEY: "leader", DEPARTMENT_KEY: "department"}


async def on_booking(event: str, booking: dict) -> None:
    """Inside the booking's transaction: booked → a requested session; changed → its time;
    cancelled → the session is cancelled unless it already took place."""
    service = SERVICE_OF.get(booking.get("service_key", ""))
    if service is None:
        return
    existing = await raw("SELECT id, status FROM video_petition_session WHERE booking = {}", booking["id"])
    if event == "booked" and not existing:
        resource = await raw("SELECT r.staff, u.department FROM booking_resource r LEFT JOIN staff_user u ON u.id = r.staff "
                             "WHERE r.id = {}", booking["resource"])
        staff = resource[0]["staff"] if resource else None
        department = resource[0]["department"] if resource and service == "department" else None
        await insert("video_petition_session", {
            "center": booking["center"], "service": service, "citizen": booking.get("citizen"),
            "booking": booking["id"], "name": booking.get("name") or "", "phone": booking.get("phone") or "",
            "status": "requested", "host": staff, "department": department,
            "scheduled_at": booking["starts_at"], "created_at": clock.now(),
        })
    elif event == "changed" and existing:
        await raw("UPDATE video_petition_session SET scheduled_at = {}, version = version + 1 WHERE id = {}",
                  booking["starts_at"], existing[0]["id"])
    elif event == "cancelled" and existing and existing[0]["status"] in ("requested", "approved"):
        await raw("UPDATE video_petition_session SET status = 'cancelled', version = version + 1 WHERE id = {}",
                  existing[0]["id"])
