#!/usr/bin/env python3
"""A small simulated robot for the demo: a differential-drive base that publishes what a real
AMR driver does, at realistic rates, and moves according to the cmd_vel it receives.

  odom (nav_msgs/Odometry) 50 Hz, imu (sensor_msgs/Imu) 100 Hz, battery_state 1 Hz,
  joint_states 50 Hz, scan (sensor_msgs/LaserScan, 360 beams in a 10 m x 8 m room) 10 Hz.

cmd_vel is obeyed like a motor driver would: held for 0.5 s, then the base stops by itself.
"""
import math
import time

import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import BatteryState, Imu, JointState, LaserScan

WHEEL_RADIUS = 0.08
TRACK = 0.4
ROOM = (-5.0, 5.0, -4.0, 4.0)


def yaw_quat(yaw):
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


class SimRobot:
    def __init__(self):
        self.node = rclpy.create_node("sim_robot")
        n = self.node
        self.odom_pub = n.create_publisher(Odometry, "odom", 10)
        self.imu_pub = n.create_publisher(Imu, "imu", qos_profile_sensor_data)
        self.bat_pub = n.create_publisher(BatteryState, "battery_state", 10)
        self.js_pub = n.create_publisher(JointState, "joint_states", 10)
        self.scan_pub = n.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        n.create_subscription(Twist, "cmd_vel", self.on_cmd, 10)
        self.x = self.y = self.yaw = 0.0
        self.v = self.w = 0.0
        self.wheel = [0.0, 0.0]
        self.last_cmd = 0.0
        self.battery = 0.87
        self.last = time.monotonic()
        n.create_timer(1 / 50, self.step)
        n.create_timer(1 / 100, self.imu)
        n.create_timer(1.0, self.battery_state)
        n.create_timer(1 / 10, self.scan)

    def on_cmd(self, msg):
        self.v, self.w = msg.linear.x, msg.angular.z
        self.last_cmd = time.monotonic()

    def stamp(self):
        return self.node.get_clock().now().to_msg()

    def step(self):
        now = time.monotonic()
        dt, self.last = now - self.last, now
        if now - self.last_cmd > 0.5:
            self.v = self.w = 0.0
        self.yaw = math.atan2(math.sin(self.yaw + self.w * dt), math.cos(self.yaw + self.w * dt))
        self.x += self.v * math.cos(self.yaw) * dt
        self.y += self.v * math.sin(self.yaw) * dt
        o = Odometry()
        o.header.stamp = self.stamp()
        o.header.frame_id = "odom"
        o.child_frame_id = "base_link"
        o.pose.pose.position.x, o.pose.pose.position.y = self.x, self.y
        q = o.pose.pose.orientation
        q.x, q.y, q.z, q.w = yaw_quat(self.yaw)
        o.twist.twist.linear.x, o.twist.twist.angular.z = self.v, self.w
        self.odom_pub.publish(o)
        wl = (self.v - self.w * TRACK / 2) / WHEEL_RADIUS
        wr = (self.v + self.w * TRACK / 2) / WHEEL_RADIUS
        self.wheel[0] += wl * dt
        self.wheel[1] += wr * dt
        j = JointState()
        j.header.stamp = o.header.stamp
        j.name = ["left_wheel_joint", "right_wheel_joint"]
        j.position = list(self.wheel)
        j.velocity = [wl, wr]
        j.effort = [0.4 * abs(wl) / 10, 0.4 * abs(wr) / 10]
        self.js_pub.publish(j)

    def imu(self):
        m = Imu()
        m.header.stamp = self.stamp()
        m.header.frame_id = "imu_link"
        q = m.orientation
        q.x, q.y, q.z, q.w = yaw_quat(self.yaw)
        m.angular_velocity.z = self.w
        m.linear_acceleration.z = 9.81
        self.imu_pub.publish(m)

    def battery_state(self):
        moving = abs(self.v) > 0 or abs(self.w) > 0
        self.battery = max(0.05, self.battery - (0.002 if moving else 0.0005))
        b = BatteryState()
        b.header.stamp = self.stamp()
        b.voltage = 22.0 + 4.0 * self.battery
        b.current = -3.5 if moving else -0.8
        b.percentage = self.battery
        b.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
        b.present = True
        self.bat_pub.publish(b)

    def scan(self):
        s = LaserScan()
        s.header.stamp = self.stamp()
        s.header.frame_id = "laser"
        s.angle_min, s.angle_max = -math.pi, math.pi - 2 * math.pi / 360
        s.angle_increment = 2 * math.pi / 360
        s.scan_time, s.range_min, s.range_max = 0.1, 0.12, 6.0
        ranges = []
        for i in range(360):
            a = self.yaw + s.angle_min + i * s.angle_increment
            c, sn = math.cos(a), math.sin(a)
            ds = []
            if c > 1e-9:
                ds.append((ROOM[1] - self.x) / c)
            if c < -1e-9:
                ds.append((ROOM[0] - self.x) / c)
            if sn > 1e-9:
                ds.append((ROOM[3] - self.y) / sn)
            if sn < -1e-9:
                ds.append((ROOM[2] - self.y) / sn)
            d = min(ds) if ds else float("inf")
            ranges.append(d if d <= s.range_max else float("inf"))
        s.ranges = ranges
        self.scan_pub.publish(s)


def main():
    rclpy.init()
    robot = SimRobot()
    try:
        rclpy.spin(robot.node)
    except KeyboardInterrupt:
        pass
    finally:
        robot.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
